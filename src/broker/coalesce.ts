/**
 * One socket write per round of frames instead of one per frame. amqplib's
 * multiplexer hands the socket each frame of each channel as a write of its
 * own: with TCP_NODELAY (which fj sets: without it a publish of a few kB
 * waits ~40 ms for the broker's delayed ACK), each is a system call and a
 * packet. An `fj worker` writes at least two per message (its answer and the
 * ack), a coordinator one per work message; on a busy machine those system
 * calls were the worker's largest cost (a profile: a third of its main
 * thread's busy time).
 * Corking the socket while the multiplexer writes a round sends the round
 * as one `writev`.
 *
 * This reaches into amqplib's connection (`connection.muxer`,
 * `connection.stream`): when those are not there (another amqplib version),
 * it changes nothing and frames go out one by one, as before.
 */
import type { ChannelModel } from 'amqplib';

interface Internals {
  connection?: { stream?: { cork?: () => void; uncork?: () => void }; muxer?: { _readIncoming?: () => void } };
}

/** Makes `conn` write each round of frames with one system call, when amqplib's internals allow. */
export function coalesceWrites(conn: ChannelModel): boolean {
  const { stream, muxer } = (conn as unknown as Internals).connection ?? {};
  const round = muxer?._readIncoming;
  if (
    !stream ||
    !muxer ||
    typeof round !== 'function' ||
    typeof stream.cork !== 'function' ||
    typeof stream.uncork !== 'function'
  )
    return false;
  muxer._readIncoming = function (this: unknown) {
    stream.cork!();
    try {
      round.call(this);
    } finally {
      stream.uncork!();
    }
  };
  return true;
}
