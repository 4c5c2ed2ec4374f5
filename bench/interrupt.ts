/**
 * Children (and namespaces) a bench script must clean up if it is interrupted,
 * when its finally blocks would not run: each is killed, newest first, on SIGINT
 * or SIGTERM, and the script exits 130.
 */
export function killOnInterrupt(): Set<{ kill(): void }> {
  const running = new Set<{ kill(): void }>();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const child of [...running].reverse()) {
        try {
          child.kill();
        } catch {
          // already gone
        }
      }
      process.exit(130);
    });
  }
  return running;
}
