/** Number formatting shared by the bench's tables: a dash for what was not measured. */
export const f = (value: number, digits = 1): string => (Number.isFinite(value) ? value.toFixed(digits) : '–');

/** A markdown table: the first column left-aligned (names), the others right-aligned (numbers). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const rule = header.map((_, i) => (i === 0 ? '---' : '---:'));
  return [header, rule, ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}
