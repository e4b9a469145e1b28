/** The progress bar on stderr (cli-progress): items done/total, rate and ETA. */
import cliProgress from 'cli-progress';
import type { Progress } from '../options.js';

/** A progress reporter for `run()`'s `onProgress`, and `stop()` to clear it. */
export function progressBar(label: string): { onProgress: (p: Progress) => void; stop: () => void } {
  const started = Date.now();
  let bar: cliProgress.SingleBar | undefined;
  let knownTotal = false;
  return {
    onProgress({ done, total }) {
      const secs = (Date.now() - started) / 1000;
      const rate = secs > 0 ? Math.round(done / secs) : 0;
      if (!bar || (total !== undefined && !knownTotal)) {
        bar?.stop();
        knownTotal = total !== undefined;
        bar = new cliProgress.SingleBar(
          {
            stream: process.stderr,
            format: knownTotal
              ? `${label} {bar} {percentage}% | {value}/{total} items | {rate}/s | ETA {eta_formatted}`
              : `${label} {value} items | {rate}/s`,
            hideCursor: true,
            clearOnComplete: true,
            etaBuffer: 50,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total ?? 0, done, { rate });
      }
      bar.update(done, { rate });
    },
    stop() {
      bar?.stop();
    },
  };
}
