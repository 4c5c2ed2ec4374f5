import { SourceSpecError } from './errors.js';

/**
 * Reading the options of a source URL (`?size=1280x720&fps=30`): each value is
 * checked, and an unknown or bad one is an error naming the key and what it takes.
 */
export class SourceQuery {
  private readonly spec: string;
  private readonly params: URLSearchParams;
  private readonly allowed: readonly string[];

  constructor(spec: string, query: string, allowed: readonly string[]) {
    this.spec = spec;
    this.params = new URLSearchParams(query);
    this.allowed = allowed;
    for (const key of this.params.keys()) {
      if (!allowed.includes(key)) {
        throw new SourceSpecError(spec, `source '${spec}': unknown option '${key}'; accepted: ${allowed.join(', ') || 'none'}`);
      }
    }
  }

  string(key: string): string | undefined {
    return this.params.get(key) ?? undefined;
  }

  number(key: string, min: number, max: number): number | undefined {
    const raw = this.params.get(key);
    if (raw === null) return undefined;
    const value = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(value) || value < min || value > max) {
      throw new SourceSpecError(this.spec, `source '${this.spec}': ${key}=${raw} is not a number from ${min} to ${max}`);
    }
    return value;
  }

  size(key: string): { width: number; height: number } | undefined {
    const raw = this.params.get(key);
    if (raw === null) return undefined;
    const match = /^(\d{1,5})x(\d{1,5})$/.exec(raw);
    const width = Number(match?.[1]);
    const height = Number(match?.[2]);
    if (match === null || width < 16 || height < 16 || width > 7680 || height > 7680) {
      throw new SourceSpecError(this.spec, `source '${this.spec}': ${key}=${raw} is not a size WIDTHxHEIGHT (16–7680, e.g. 1280x720)`);
    }
    return { width, height };
  }

  flag(key: string): boolean | undefined {
    const raw = this.params.get(key);
    if (raw === null) return undefined;
    if (['1', 'true', 'yes'].includes(raw)) return true;
    if (['0', 'false', 'no'].includes(raw)) return false;
    throw new SourceSpecError(this.spec, `source '${this.spec}': ${key}=${raw} is not 1/0, true/false or yes/no`);
  }

  oneOf<T extends string>(key: string, choices: readonly T[]): T | undefined {
    const raw = this.params.get(key);
    if (raw === null) return undefined;
    if (!(choices as readonly string[]).includes(raw)) {
      throw new SourceSpecError(this.spec, `source '${this.spec}': ${key}=${raw}; accepted: ${choices.join(', ')}`);
    }
    return raw as T;
  }
}

/** Splits `scheme:rest?query` into the part before `?` and the query. */
export function splitQuery(rest: string): [string, string] {
  const at = rest.indexOf('?');
  return at < 0 ? [rest, ''] : [rest.slice(0, at), rest.slice(at + 1)];
}

/** A URL for logs and stats with its password replaced by `***`. */
export function maskPassword(url: string): string {
  // The password runs to the last '@' before the path: an unencoded '@' inside it stays hidden.
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@?#]*):[^/?#]*@/i, '$1:***@');
}
