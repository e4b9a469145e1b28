/** `fj dashboard`: serves the dashboard until SIGINT or SIGTERM. */
import { startDashboard, type DashboardOptions } from '../dashboard/server.js';
import type { Streams } from './streams.js';

/** Starts the dashboard, prints where it is (with the token in the URL's fragment, which browsers never send), and serves until a signal. */
export async function dashboardCommand(flags: DashboardOptions, io: Streams): Promise<void> {
  const d = await startDashboard(flags);
  io.stderr.write(`fj: dashboard on ${d.url}/#token=${d.token}\n`);
  if (!flags.token && !process.env.FJ_DASHBOARD_TOKEN) io.stderr.write('fj: (a token made up for this run: buttons that change things need it; --token or FJ_DASHBOARD_TOKEN sets one)\n');
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await d.close();
}
