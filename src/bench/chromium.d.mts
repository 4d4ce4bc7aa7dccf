export const CHROMIUM_PATH: string;
export function chromiumArgs(webgpu?: boolean): string[];
