// One page for every entry: ?endpoint=…&token=…&channelId=… then pick a file and press Upload.
// The outcome lands in <html data-state="done|error"> and #out (JSON), for the e2e tests.
// Each entry's page (main.ts, web.ts, peertube.ts, peertube-web.ts) passes its own module's
// `init`, a function that uploads one file, and its `UploadError` class.
import type { PeerTubeUploadOptions, PeerTubeVideoResult, UploadProgress } from 'chunkup';
import type * as Bundler from 'chunkup';

type ErrorCtor = typeof Bundler.UploadError;
export type Start = (file: File, options: PeerTubeUploadOptions) => Promise<PeerTubeVideoResult>;

export function mount(entry: string, init: () => Promise<unknown>, start: Start, UploadError: ErrorCtor): void {
  const params = new URLSearchParams(location.search);
  const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
  const out = $<HTMLPreElement>('out');
  const bar = $<HTMLProgressElement>('bar');
  const root = document.documentElement;
  const progress: UploadProgress[] = [];

  init().then(() => {
    root.dataset.ready = '1';
    $<HTMLButtonElement>('start').onclick = async () => {
      const file = $<HTMLInputElement>('file').files?.[0];
      if (!file) return;
      const options: PeerTubeUploadOptions = {
        provider: 'peertube',
        endpoint: params.get('endpoint') ?? '',
        accessToken: params.get('token') ?? '',
        channelId: Number(params.get('channelId')),
        chunkSize: Number(params.get('chunkSize') ?? 1024 * 1024),
        retryDelays: [200, 500],
        privacy: 1,
        onProgress: p => { progress.push(p); bar.max = p.total; bar.value = p.loaded; }
      };
      root.dataset.state = 'running';
      try {
        const result = await start(file, options);
        const loaded = progress.map(p => p.loaded);
        const monotonic = loaded.every((v, i) => i === 0 || v >= loaded[i - 1]);
        out.textContent = JSON.stringify({ entry, result, progressEvents: progress.length, monotonic, last: progress.at(-1) });
        root.dataset.state = 'done';
      } catch (e) {
        const err = e instanceof UploadError ? { code: e.code, status: e.status, message: e.message } : { message: String(e) };
        out.textContent = JSON.stringify({ entry, error: err });
        root.dataset.state = 'error';
      }
    };
  }, e => { out.textContent = `init failed: ${e}`; root.dataset.state = 'error'; });
}
