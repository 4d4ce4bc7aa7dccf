export const TOLERANCE: number;
export function checkParity(modelDir: string, fixtureDir: string): Promise<{ name: string; error: number }[]>;
