import { chooseModelIntent } from '../actions';
import { useCatalog } from '../state/catalog';
import { useModel } from '../state/model';
import { useRun } from '../state/run';

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/** The shipped models, by name, size and image; a model from a link that is not one of them shows as such. */
export function ModelPicker() {
  const models = useCatalog((s) => s.models);
  const url = useModel((s) => s.url);
  const loading = useModel((s) => s.status === 'loading');
  const running = useRun((s) => s.status === 'running');
  if (models.length < 2 && models.some((m) => m.id === url)) return null;
  const known = models.some((m) => m.id === url);
  return (
    <label className="model-picker">
      Model
      <select
        value={url}
        disabled={loading || running}
        data-testid="model-picker"
        onChange={(e) => void chooseModelIntent(e.target.value)}
      >
        {!known && url && <option value={url}>{url}</option>}
        {models.map((m) => (
          <option key={m.id} value={m.id}>
            {/* what tells the models apart comes first: a narrow screen shows only the start */}
            {m.data?.name ?? m.id}: {m.image.channels === 3 ? 'colour' : 'grey'} {m.image.width}×
            {m.image.height}, {m.classes.length ? `${m.classes.length} classes` : 'no classes'}, {mb(m.bytes)}{' '}
            ({m.name})
          </option>
        ))}
      </select>
    </label>
  );
}
