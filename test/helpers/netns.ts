/**
 * Test hosts on this machine: each a Linux network namespace of its own
 * (`ip netns`), joined to this one by a veth pair on a /24 of its own, so a
 * process started in it has its own address and reaches only what the test
 * exposes on the gateway address (nothing listens there unless a test puts
 * it there: RabbitMQ and Redis listen on 127.0.0.1 only). Needs root and
 * iproute2; {@link netnsProblem} says why not, for the skip message.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/** Why test hosts cannot be made here, or undefined when they can. */
export function netnsProblem(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
    return undefined;
  } catch (err) {
    return `ip netns does not work here: ${(err as Error).message}`;
  }
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** One test host: a namespace, its address, and the gateway address on this side. */
export class TestHost {
  private constructor(
    /** The namespace's name (`ip netns exec NAME …`). */
    readonly name: string,
    /** The host's own address. */
    readonly address: string,
    /** This side's address on the host's link: what the host can reach. */
    readonly gateway: string,
  ) {}

  /** Makes `count` hosts, on 10.79.X.0/24 networks picked at random (so that two runs at once do not collide). */
  static create(count: number): TestHost[] {
    const tag = randomBytes(2).toString('hex');
    const base = 10 + (randomBytes(1)[0] % 200);
    const hosts: TestHost[] = [];
    try {
      for (let k = 1; k <= count; k++) {
        const name = `fjh-${tag}-${k}`;
        const net = `10.79.${base + k}`;
        const [outside, inside] = [`fjh${tag}${k}o`, `fjh${tag}${k}i`];
        ip('netns', 'add', name);
        hosts.push(new TestHost(name, `${net}.2`, `${net}.1`));
        ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', inside);
        ip('link', 'set', inside, 'netns', name);
        ip('addr', 'add', `${net}.1/24`, 'dev', outside);
        ip('link', 'set', outside, 'up');
        ip('netns', 'exec', name, 'ip', 'addr', 'add', `${net}.2/24`, 'dev', inside);
        ip('netns', 'exec', name, 'ip', 'link', 'set', inside, 'up');
        ip('netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up');
      }
      return hosts;
    } catch (err) {
      for (const h of hosts) h.remove();
      throw err;
    }
  }

  /** `command` run in this host: the arguments for spawn (`ip netns exec NAME …`, which execs it: the PID is the command's). */
  exec(command: string[]): [string, string[]] {
    return ['ip', ['netns', 'exec', this.name, ...command]];
  }

  /** Removes the namespace (its end of the veth pair, and so the pair, goes with it). */
  remove(): void {
    try {
      ip('netns', 'del', this.name);
    } catch {
      // already gone
    }
  }
}
