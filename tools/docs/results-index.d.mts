export const RESULTS: string;
export const INDEX: string;
export function listResults(root: string): string[];
export function describe(root: string, file: string): string | null;
export function citations(root: string, files?: string[]): Map<string, string[]>;
export function renderIndex(root: string): { text: string; problems: string[] };
export function checkIndex(root: string): string[];
