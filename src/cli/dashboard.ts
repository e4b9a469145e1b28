/** `fj dashboard`: serves the dashboard until SIGINT or SIGTERM. */
import { startDashboard, type DashboardOptions } from '../dashboard/server.js';
import type { Streams } from './streams.js';

/**
 * Starts the dashboard, prints where it is and serves until a signal. A token
 * fj made up is printed in the URL's fragment (which browsers never send); a
 * token the user gave is not printed (service logs keep this line).
 */
export async function dashboardCommand(flags: DashboardOptions, io: Streams): Promise<void> {
  const d = await startDashboard(flags);
  // One write: a reader of the pipe (a test, a log collector) gets the URL and what it says of the token together.
  io.stderr.write(
    d.tokenGiven
      ? `fj: dashboard on ${d.url}/\n` +
          "fj: (the token is the one of --token or FJ_DASHBOARD_TOKEN: open the URL with '#token=<it>')\n"
      : `fj: dashboard on ${d.url}/#token=${d.token}\n` +
          'fj: (a token made up for this run: buttons that change things need it; --token or FJ_DASHBOARD_TOKEN sets one)\n',
  );
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
