/**
 * models/index.json, the list of shipped models the page's picker shows: a Vite plugin that writes
 * it into the site build from each public/models/<id>/manifest.json, and serves the same file in
 * the dev server. The format is src/session/model-url.ts's ModelsIndex.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** What the page downloads to run a model: every segment but the embed and blocks the fused prefix holds. */
function pageBytes(manifest) {
  const { embed, blocks, head, prefix } = manifest.segments;
  const fused = prefix ? prefix.depth : 0;
  return [...(prefix ? [prefix] : [embed]), ...blocks.slice(fused), head].reduce((n, f) => n + f.bytes, 0);
}

/** The index of the models in `dir`, `first` first (the default), the others by id. */
export function buildModelsIndex(dir, first) {
  const ids = readdirSync(dir)
    .filter((id) => existsSync(path.join(dir, id, 'manifest.json')))
    .sort((a, b) => (a === first ? -1 : b === first ? 1 : a.localeCompare(b)));
  const models = ids.map((id) => {
    const m = JSON.parse(readFileSync(path.join(dir, id, 'manifest.json'), 'utf8'));
    if (m.id !== id)
      throw new Error(`${dir}/${id}/manifest.json says id "${m.id}": a model's folder is its id`);
    const { channels, height, width } = m.image;
    return {
      id,
      name: m.name,
      classes: m.classes,
      image: { channels, height, width },
      bytes: pageBytes(m),
      ...(m.data
        ? { data: { name: m.data.name, ...(m.data.attribution ? { attribution: m.data.attribution } : {}) } }
        : {}),
    };
  });
  return { models };
}

/** The Vite plugin: models/index.json in the build's output and from the dev server. */
export function modelsIndex({ dir = 'public/models', first }) {
  const source = () => `${JSON.stringify(buildModelsIndex(dir, first), null, 2)}\n`;
  return {
    name: 'adadiff:models-index',
    configureServer(server) {
      server.middlewares.use('/models/index.json', (_req, res) => {
        res.setHeader('Content-Type', 'application/json');
        res.end(source());
      });
    },
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: 'models/index.json', source: source() });
    },
  };
}
