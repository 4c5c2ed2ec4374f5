/**
 * The orchestrator's handle on one load generator process (load.ts): spawns it,
 * sends it `start` / `stop`, and waits for its JSON messages.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { START, STOP, type LoadMessage, type ReadyMessage, type ResultMessage } from './load-protocol.js';

/** How the generator's viewers behave (load.ts flags), and where it runs. */
export interface LoadOptions {
  /** User-Agent of every viewer (default camstream-bench). */
  agent?: string;
  /** Bytes per second each viewer reads at most (default: all it gets). */
  rate?: number;
  /** Fixed SO_RCVBUF for each viewer's socket (default: auto-tuned). */
  rcvbuf?: number;
  /** With `rate`: read in one burst of up to rate × period per period (a busy tab), not in small steps. */
  readPeriodMs?: number;
  /**
   * A command that runs the generator, e.g. ['ip', 'netns', 'exec', NS]; it must
   * exec node in place (as `ip netns exec` does), so the PID killed is node's.
   */
  wrapper?: readonly string[];
}

export class LoadProcess {
  private readonly child: ChildProcess;
  private readonly pid: number;
  private readonly messages: LoadMessage[] = [];
  private wake: (() => void) | undefined;
  private exitError: Error | undefined;

  constructor(script: string, url: string, viewers: number, options: LoadOptions = {}) {
    const args = [script, '--url', url, '--viewers', String(viewers)];
    if (options.agent !== undefined) args.push('--agent', options.agent);
    if (options.rate !== undefined) args.push('--rate', String(options.rate));
    if (options.rcvbuf !== undefined) args.push('--rcvbuf', String(options.rcvbuf));
    if (options.readPeriodMs !== undefined) args.push('--read-period-ms', String(options.readPeriodMs));
    const [command, ...prefix] = [...(options.wrapper ?? []), process.execPath];
    this.child = spawn(command as string, [...prefix, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    // A spawn that failed (no such command) says so here; unhandled, it would end the bench.
    this.child.once('error', (error) => {
      this.exitError ??= new Error(`the load generator could not run: ${error.message}`);
      this.wake?.();
    });
    if (this.child.pid === undefined || this.child.stdout === null) throw new Error('could not start the load generator');
    this.pid = this.child.pid;
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      this.messages.push(JSON.parse(line) as LoadMessage);
      this.wake?.();
    });
    // A generator that died makes writes to its stdin fail (EPIPE); its 'close'
    // below reports that, and an unhandled 'error' would end the bench before cleanup.
    this.child.stdin?.on('error', () => undefined);
    // 'close', not 'exit': it comes after stdout is drained, so no message is lost.
    this.child.once('close', (code, signal) => {
      this.exitError = new Error(`the load generator exited (code ${code}, signal ${signal})`);
      this.wake?.();
    });
  }

  waitForReady(timeoutMs: number): Promise<ReadyMessage> {
    return this.next('ready', timeoutMs) as Promise<ReadyMessage>;
  }

  start(): void {
    this.child.stdin?.write(`${START}\n`);
  }

  /** Ends the window; resolves with the result, once the process has exited. */
  async stop(timeoutMs: number): Promise<ResultMessage> {
    const closed = this.exitError === undefined ? once(this.child, 'close') : Promise.resolve();
    this.child.stdin?.write(`${STOP}\n`);
    const result = (await this.next('result', timeoutMs)) as ResultMessage;
    await closed;
    return result;
  }

  /** Kills the process by PID if it is still running (for finally blocks). */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) process.kill(this.pid, 'SIGKILL');
  }

  private async next(event: LoadMessage['event'], timeoutMs: number): Promise<LoadMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.messages.findIndex((message) => message.event === event);
      if (index >= 0) return this.messages.splice(index, 1)[0] as LoadMessage;
      if (this.exitError !== undefined) throw this.exitError;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no '${event}' from the load generator within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }
}
