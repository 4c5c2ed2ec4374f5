import { spawnSync } from 'node:child_process';

/**
 * Whether a system tool is installed. Outside CI a test that needs a missing tool
 * skips and names the Debian package; under CI=true it fails instead, because
 * .ci/run installs every tool the tests use.
 */
export function requireTool(command: string, debianPackage: string): string | false {
  const found = spawnSync(command, ['-version'], { stdio: 'ignore' }).error === undefined;
  if (found) return false;
  if (process.env.CI === 'true') throw new Error(`${command} is missing under CI=true; .ci/run must apt-get install ${debianPackage}`);
  return `${command} is not installed (Debian package ${debianPackage})`;
}
