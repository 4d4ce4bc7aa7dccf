export interface StaticRoute {
  prefix: string;
  dir: string;
  headers?: Record<string, string>;
  replace?: Record<string, string>;
}
export function serveStatic(
  port: number,
  routes: StaticRoute[],
): Promise<{ url: string; requests: string[]; close: () => Promise<void> }>;
