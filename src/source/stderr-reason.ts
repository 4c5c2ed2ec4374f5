/**
 * Keeps the last lines a child process wrote to stderr and turns them into the
 * one-line reason a user sees in logs and /api/stats: ffmpeg's
 * "[rtsp @ 0x55d…] method DESCRIBE failed: 401 Unauthorized" becomes
 * "401 Unauthorized: check the user and password in the source URL".
 */
export class StderrTail {
  private readonly lines: string[] = [];
  private partial = '';
  private readonly maxLines: number;

  constructor(maxLines = 20) {
    this.maxLines = maxLines;
  }

  push(text: string): void {
    const pieces = (this.partial + text).split(/\r?\n|\r/);
    this.partial = (pieces.pop() ?? '').slice(-1000);
    for (const line of pieces) {
      const trimmed = line.trim();
      if (trimmed === '') continue;
      this.lines.push(trimmed.slice(0, 500));
      if (this.lines.length > this.maxLines) this.lines.shift();
    }
  }

  get text(): string[] {
    return this.partial.trim() === '' ? [...this.lines] : [...this.lines, this.partial.trim()];
  }
}

/** Known causes, most specific first, each with what to do about it. */
const KNOWN: [RegExp, string][] = [
  [/401 Unauthorized/i, '401 Unauthorized: check the user and password in the source URL'],
  [/403 Forbidden/i, '403 Forbidden: the camera refuses this user or path'],
  [/404 Not Found/i, '404 Not Found: check the path in the source URL'],
  [/Connection refused/i, 'Connection refused: is the camera on, and the host and port in the URL right?'],
  [/Connection timed out|timed out/i, 'Connection timed out: the camera did not answer; check the host in the URL and the network'],
  [/Name or service not known|Temporary failure in name resolution|Failed to resolve hostname/i, 'cannot resolve the host name in the source URL'],
  [/No such file or directory/i, 'No such file or directory: check the path'],
  [/Permission denied/i, 'Permission denied: the server may not read this file or device (for a webcam, add the user to the video group)'],
  [/Device or resource busy/i, 'Device or resource busy: another program is using the camera'],
  [/^(?:\/bin\/)?sh: \d+: (.+): not found$/m, 'command not found: check the program name in the exec: command line'],
  [/Invalid data found when processing input/i, 'Invalid data found when processing input: not a video ffmpeg can read'],
  [/Inappropriate ioctl for device|Not a video capture device/i, 'not a video capture device: check the /dev/video path'],
];

/** The one-line reason for a process that ended; `fallback` when stderr says nothing useful. */
export function reasonFromStderr(lines: readonly string[], fallback: string): string {
  const joined = lines.join('\n');
  for (const [pattern, reason] of KNOWN) if (pattern.test(joined)) return reason;
  const last = lines.at(-1);
  if (last === undefined) return fallback;
  // "[rtsp @ 0x5581…] message" and "rtsp://host/path: message" → "message"
  const cleaned = last.replace(/^\[[^\]]+\]\s*/, '').replace(/^\S+:\/\/\S+:\s*/, '').trim();
  return cleaned === '' ? fallback : `${cleaned} (${fallback})`;
}
