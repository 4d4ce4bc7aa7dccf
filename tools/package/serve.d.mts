import type { IncomingMessage, ServerResponse } from 'node:http';

export const TYPES: Record<string, string>;
export const ISOLATION: Record<string, string>;

export interface SiteOptions {
  /** Serve the precompressed copies beside the files (default true); false ignores them. */
  precompressed?: boolean;
  /** Gzip on the fly what has no precompressed copy (default true); false sends it as it is. */
  compress?: boolean;
}

export function siteFiles(
  dir: string,
  options?: SiteOptions & { prefix?: string },
): (req: IncomingMessage, res: ServerResponse, next?: () => void) => void;

export function serveSite(
  roots: [prefix: string, dir: string][],
  options?: SiteOptions & { port?: number; host?: string },
): Promise<{ url: string; close: () => Promise<void> }>;
