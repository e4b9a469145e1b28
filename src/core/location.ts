/**
 * Where a command finds the cluster: the broker, the payload store and the
 * pool. One rule for every command and API call, so that `fj run`, `fj
 * submit`, `fj rerun`, `fj status`, `fj worker` and the rest look in the
 * same place: the option given, else its environment variable
 * (`FJ_BROKER_URL`, `FJ_STORE_URL`, `FJ_QUEUE`), else the default. An empty
 * variable counts as unset; an empty option is given (an empty `--queue` is
 * refused where queues are checked; an empty store URL is the default store).
 *
 * No amqplib and no store here: this is core, below every layer that opens
 * a connection.
 */

/** The broker URL used when neither an option nor `FJ_BROKER_URL` names one. */
export const DEFAULT_BROKER = 'amqp://guest:guest@127.0.0.1:5672';

/** The pool (work queue) used when neither an option, the task nor `FJ_QUEUE` names one. */
export const DEFAULT_QUEUE = 'fj.default';

/**
 * The RabbitMQ queue type of a pool's queues (work, code, dead-letter and
 * jobs queues) and of its jobs' results queues: `classic` (one node, the
 * default) or `quorum` (replicated on a majority of a cluster's nodes, see
 * docs/scaling.md). Every client of a pool must declare the same type.
 */
export type QueueType = 'classic' | 'quorum';

/** The queue types fj declares. */
export const QUEUE_TYPES: readonly QueueType[] = ['classic', 'quorum'];

/** The environment variable a pool's queue type is read from when no option names it. */
export const QUEUE_TYPE_ENV = 'FJ_QUEUE_TYPE';

/** What a caller may name; each undefined or empty one comes from the environment, then the default. */
export interface LocationOptions {
  broker?: string;
  store?: string;
  queue?: string;
}

/** Where a value came from: the option, its environment variable, or fj's default. */
export type Origin = 'option' | 'env' | 'default';

/** The broker, store and pool a command uses, and where each came from (for error messages). */
export interface Location {
  broker: string;
  /** The store URL; '' means the default file store (see `openStore`). */
  store: string;
  /** The pool named by the option or `FJ_QUEUE`; undefined when neither does (the task's queue, else {@link DEFAULT_QUEUE}). */
  queue: string | undefined;
  from: { broker: Origin; store: Origin; queue: Origin };
}

/** The environment variable each place is read from. */
export const LOCATION_ENV = { broker: 'FJ_BROKER_URL', store: 'FJ_STORE_URL', queue: 'FJ_QUEUE' } as const;

/** Environment variables by name (`process.env`); written out so fj's public types need no `@types/node`. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Resolves broker, store and pool by the one rule: option, else environment variable, else default. */
export function locate(given: LocationOptions = {}, env: Env = process.env): Location {
  const pick = (key: keyof LocationOptions): [string | undefined, Origin] => {
    const option = given[key];
    if (option !== undefined) return [option, 'option'];
    const fromEnv = env[LOCATION_ENV[key]];
    if (fromEnv !== undefined && fromEnv !== '') return [fromEnv, 'env'];
    return [undefined, 'default'];
  };
  const [broker, brokerFrom] = pick('broker');
  const [store, storeFrom] = pick('store');
  const [queue, queueFrom] = pick('queue');
  return {
    broker: broker ?? DEFAULT_BROKER,
    store: store ?? '',
    queue,
    from: { broker: brokerFrom, store: storeFrom, queue: queueFrom },
  };
}

/** How an error names where a value came from: `--broker` / `$FJ_BROKER_URL` / `default` (`flag` is how the caller spells the option). */
export function originName(key: keyof LocationOptions, origin: Origin, flag = `--${key}`): string {
  return origin === 'option' ? flag : origin === 'env' ? `$${LOCATION_ENV[key]}` : 'default';
}
