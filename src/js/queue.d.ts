import type { Upload, UploadError, UploadOptions, UploadProgress, UploadResult } from './chunkup.js';

/** What one queue entry uploads: a File/Blob, or several files as one upload (MangaDex pages). */
export type QueueInput = File | Blob | File[];

/** `Omit` applied to each member of a union (UploadOptions is one per provider). */
export type OmitEach<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export type QueueItemState = 'queued' | 'uploading' | 'paused' | 'done' | 'error' | 'cancelled';

/** Upload options for one item, merged over the queue's (a function is called when the item starts). */
export type QueueItemOptions =
  | Partial<UploadOptions>
  | ((input: QueueInput, item: QueueItem) => Partial<UploadOptions> | Promise<Partial<UploadOptions>>);

/** The part of `Upload` the queue uses (see `createUpload`). */
export interface UploadLike {
  start(): Promise<UploadResult>;
  pause(): void;
  resume(): void;
  abort(): Promise<void>;
}

export declare class QueueItem {
  private constructor();
  /** 1, 2, 3… in the order of `add`. */
  readonly id: number;
  readonly input: QueueInput;
  readonly options: QueueItemOptions | undefined;
  /** The file's name ("blob" for a Blob without one; "N files" for several). */
  readonly name: string;
  /** Bytes of the input. */
  readonly size: number;
  readonly state: QueueItemState;
  /** Bytes confirmed or in flight; never decreases. */
  readonly loaded: number;
  readonly total: number;
  /** 0 unless the item is uploading. */
  readonly bytesPerSecond: number;
  /** Seconds until done at the current speed; Infinity when nothing moves. */
  readonly secondsLeft: number;
  /** The provider's result once `state === 'done'`. */
  readonly result: UploadResult | undefined;
  /** Why it failed once `state === 'error'` (an UploadError, or what an options function threw). */
  readonly error: UploadError | Error | undefined;
  /** The Upload, once started. */
  readonly upload: Upload | UploadLike | null;
  /** Resolves with the item once it is done, failed or cancelled. Never rejects. */
  readonly settled: Promise<QueueItem>;
  pause(): void;
  resume(): void;
  cancel(): Promise<void>;
}

export interface QueueProgress extends UploadProgress {
  /** Items in the queue, and how many are in each state. Cancelled items are left out of the bytes. */
  files: number;
  queued: number;
  uploading: number;
  paused: number;
  done: number;
  error: number;
  cancelled: number;
}

export type UploadQueueOptions = OmitEach<Partial<UploadOptions>, 'onProgress'> & {
  /** Uploads sending at once (default 3). A paused upload gives its slot to the next item. */
  concurrency?: number;
  /** Makes the upload of one item (default `new Upload(input, options)`); e.g. a Web Worker proxy. */
  createUpload?: (input: QueueInput, options: UploadOptions) => UploadLike;
  onFileStart?: (item: QueueItem) => void;
  /** Every state change: queued, uploading, paused, done, error, cancelled. */
  onFileState?: (item: QueueItem) => void;
  onFileProgress?: (item: QueueItem, progress: UploadProgress) => void;
  onFileDone?: (item: QueueItem, result: UploadResult) => void;
  onFileError?: (item: QueueItem, error: UploadError | Error) => void;
  onFileCancel?: (item: QueueItem) => void;
  /** The whole queue, on every progress event and state change. */
  onProgress?: (progress: QueueProgress) => void;
};

export declare class UploadQueue {
  /**
   * Shared Upload options (provider, endpoint, credentials…) plus the queue's own. `onProgress`
   * here is the queue's total; each item's own progress comes through `onFileProgress`.
   */
  constructor(options?: UploadQueueOptions);
  readonly concurrency: number;
  /**
   * One item per File/Blob (a FileList or array gives one per entry); an entry that is itself an
   * array or FileList is one item of several files. Items start as slots free up.
   */
  add(input: File | Blob | FileList | ArrayLike<File | Blob | File[] | FileList>, options?: QueueItemOptions): QueueItem[];
  readonly items: QueueItem[];
  readonly progress: QueueProgress;
  /** One item, or every unfinished one. */
  pause(item?: QueueItem): void;
  /** One paused item, or all of them; they wait for a free slot. */
  resume(item?: QueueItem): void;
  /** One item, or every unfinished one; resolves when the providers' sessions are cancelled. */
  cancel(item?: QueueItem): Promise<void>;
  /** Drops the settled items (their bytes leave the totals). */
  clear(): void;
  /** Resolves with every item once none is queued, uploading or paused. Never rejects. */
  settled(): Promise<QueueItem[]>;
}
