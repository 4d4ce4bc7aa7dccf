/// <reference lib="webworker" />
/** The page's and the package's prebuilt Web Worker: the engine over comlink (expose.ts). */
import { exposeEngine } from './expose';

exposeEngine();
