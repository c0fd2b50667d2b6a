import type { UploadError, UploadOptions, UploadProvider, UploadResult, UploadResultFor } from './chunkup.js';
import type { QueueItem, QueueProgress } from './queue.js';

/** The form's own options, for one provider's Upload options `O`. */
export interface EnhanceFormExtras<O extends UploadOptions = UploadOptions> {
  /** Uploads at once (default 2). */
  concurrency?: number;
  /** Extra Upload options per file, e.g. `{ name: form.title.value }` for PeerTube. */
  fileOptions?: (file: File | File[], input: HTMLInputElement) => Partial<O> | Promise<Partial<O>>;
  /**
   * The hidden fields for one upload, as `{ key: value }`, each sent as `<input name>_<key>`.
   * Default: `RESULT_FIELDS[provider](result)`. `result` is typed by the provider in the options.
   */
  fields?: (result: UploadResultFor<O>, item: QueueItem, input: HTMLInputElement) => Record<string, string | number | null | undefined>;
  /** Submit the form once every upload is done (default true). */
  submit?: boolean;
  onProgress?: (progress: QueueProgress) => void;
  /** Before the submit: the hidden fields added, as [name, value] pairs. */
  onDone?: (fields: [string, string][], items: QueueItem[]) => void;
  onError?: (error: UploadError | Error) => void;
}

/** One provider's Upload options (without `onProgress`) plus the form's own, per provider. */
export type EnhanceFormOptions = UploadOptions extends infer O
  ? O extends UploadOptions ? Omit<O, 'onProgress'> & EnhanceFormExtras<O> : never
  : never;

/**
 * PeerTube: id, uuid, shortUUID; api.video: videoId; Cloudreve: uri, sessionId; MangaDex:
 * chapterId (all the input's files are one chapter); peertube-import: none.
 */
export declare const RESULT_FIELDS: Record<UploadProvider, (result: UploadResult) => Record<string, string | number | undefined>>;

export interface EnhancedForm {
  /** Cancels the uploads in progress; the form is not submitted. */
  cancel(): Promise<void> | undefined;
  /** Removes the submit handler. */
  destroy(): void;
}

/**
 * On submit, uploads the files of the form's `<input type=file>` elements (a `<progress>` and an
 * `<output>` after each input), then submits the form without them, with the providers' ids in
 * hidden fields. `options` may be a function (called at each submit) for tokens fetched late.
 */
export declare function enhanceForm(
  form: HTMLFormElement,
  options: EnhanceFormOptions | ((form: HTMLFormElement) => EnhanceFormOptions | Promise<EnhanceFormOptions>)
): EnhancedForm;
