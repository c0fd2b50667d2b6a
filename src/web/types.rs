//! TypeScript types for the options (appended to the generated .d.ts).
//!
//! One section per provider feature, so a single-provider build (`chunkup/peertube`, …) declares
//! only its own provider's types. The unions (`UploadProvider`, `UploadOptions`, `UploadResult`)
//! are built from `UploadProviders`, an interface each provider's section adds its entries to
//! (TypeScript merges the declarations). Cloudreve's and MangaDex's own types are in
//! `web/cloudreve.rs` and `web/mangadex.rs`, which exist only with their feature.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/**
 * The providers in this build, each with its Upload options and what `start()` resolves with:
 * one entry per provider compiled in (`chunkup` has all four, `chunkup/peertube` only PeerTube's).
 */
export interface UploadProviders {}

/** The `provider` names this build accepts. */
export type UploadProvider = keyof UploadProviders;

/** The options of `new Upload(input, options)`: one type per provider of this build. */
export type UploadOptions = UploadProviders[UploadProvider]['options'];

export type UploadErrorCode =
  | 'invalid-input' | 'network' | 'http' | 'auth' | 'quota' | 'too-large'
  | 'unsupported-type' | 'session-expired' | 'protocol' | 'aborted';

export interface UploadProgress {
  /** Bytes confirmed by the server or in flight; never decreases; ends equal to `total`. */
  loaded: number;
  total: number;
  /** Smoothed throughput (EMA, 2 s half-life). */
  bytesPerSecond: number;
}

export interface CommonUploadOptions {
  /** The provider's origin or API root; absolute, or a path on this site such as `/peertube`. */
  endpoint?: string;
  /** Requested chunk size in bytes; outside the provider's limits the constructor throws. */
  chunkSize?: number;
  /** Delays (ms) before each retry of a failed request; `[]` = no retry. Default [500, 1000, 3000, 5000, 10000, 20000, 30000]. */
  retryDelays?: number[];
  /**
   * A request that makes no upload or download progress for this long (ms) is aborted and
   * treated as a network error (retried per `retryDelays`). Default 30000; 0 disables.
   * Independently, the upload pauses on the `offline` event and continues on `online`.
   */
  stallTimeout?: number;
  /**
   * Checksums (default false). PeerTube: every chunk carries `Digest: sha-256=<base64>` of exactly
   * its bytes, which the server verifies (460 → the chunk is re-sent, at most 3 times, then an
   * `http` error with status 460). Every provider: the result gets `sha256`, the lower-case hex
   * SHA-256 of the input (an array of them, in input order, for several files).
   */
  integrity?: boolean;
  onProgress?: (progress: UploadProgress) => void;
  /** Aborting it equals `upload.abort()`. */
  signal?: AbortSignal;
  /** Asked for a fresh token when the server answers 401; the upload then continues where it was. */
  getAccessToken?: () => string | Promise<string>;
  /**
   * Where resume records go (see `Upload.findPrevious`, `upload.resumeFrom`): `'local'` (the
   * default: `localStorage`; nothing is stored where there is none, e.g. in a Worker), `false`
   * (nothing stored), or a store of your own. Records never hold a token.
   */
  storage?: false | 'local' | ResumeStorage;
  /**
   * Identifies the signed-in account (a user id or name, never a token): part of the resume
   * fingerprint, so accounts sharing a browser never see each other's uploads. Not stored.
   */
  user?: string;
}

/** A store for resume records; methods may return Promises. `key`/`length` let expired entries be swept. */
export interface ResumeStorage {
  getItem(key: string): string | null | Promise<string | null>;
  setItem(key: string, value: string): void | Promise<void>;
  removeItem(key: string): void | Promise<void>;
  key?(index: number): string | null;
  readonly length?: number;
}

/** An upload an earlier page left unfinished (`Upload.findPrevious`), to pass to `upload.resumeFrom`. */
export interface PreviousUpload {
  version: 1;
  /** 32 hex digits over the file(s), provider, endpoint, target and `user`. */
  fingerprint: string;
  provider: UploadProvider;
  endpoint: string;
  /** The (first) file's name, and how many files. */
  name: string;
  files: number;
  /** Bytes in all, and bytes the server had confirmed at the last update. */
  total: number;
  offset: number;
  /** ms since the epoch. */
  createdAt: number;
  updatedAt: number;
  expiresAt: number;
  /** The provider's session (upload URL, videoId, session id, …); never a token. */
  session: Record<string, unknown>;
}

/** With `integrity: true` every result gets the input's lower-case hex SHA-256 (an array, in input order, for several files). */
export interface IntegrityResult {
  sha256?: string | string[];
}

/**
 * What `start()` resolves with, by the options' provider: `new Upload(file, options).start()` gives a
 * `Promise<UploadResultFor<typeof options>>`, that provider's result (for PeerTube `result.video.id`
 * type-checks). For options typed as the union `UploadOptions` it is the union of every provider's result.
 */
export type UploadResultFor<O> = O extends { provider: UploadProvider }
  ? UploadProviders[O['provider']]['result'] & IntegrityResult
  : never;

/** Any provider's result. */
export type UploadResult = UploadResultFor<UploadOptions>;

export interface UploadError extends Error {
  readonly name: 'UploadError' | string;
}
"#;

#[cfg(feature = "peertube")]
#[wasm_bindgen(typescript_custom_section)]
const TS_PEERTUBE: &'static str = r#"
export interface UploadProviders {
  peertube: { options: PeerTubeUploadOptions; result: PeerTubeVideoResult };
  'peertube-import': { options: PeerTubeImportOptions; result: PeerTubeImportResult };
}

/** PeerTube privacy: 1 public, 2 unlisted, 3 private, 4 internal, 5 password-protected. */
export type PeerTubePrivacy = 1 | 2 | 3 | 4 | 5;

export interface PeerTubeUploadOptions extends CommonUploadOptions {
  provider: 'peertube';
  endpoint: string;
  accessToken: string;
  channelId: number;
  /** Video title, 3–120 characters. Default: the file name. */
  name?: string;
  privacy?: PeerTubePrivacy;
  category?: number;
  licence?: number;
  language?: string;
  description?: string;
  support?: string;
  tags?: string[];
  nsfw?: boolean;
  waitTranscoding?: boolean;
  commentsPolicy?: number;
  downloadEnabled?: boolean;
  generateTranscription?: boolean;
  originallyPublishedAt?: string;
  scheduleUpdate?: { updateAt: string; privacy?: PeerTubePrivacy };
  videoPasswords?: string[];
  pluginData?: Record<string, unknown>;
  /** Default: the file name. */
  filename?: string;
}

export interface PeerTubeImportOptions extends CommonUploadOptions {
  provider: 'peertube-import';
  endpoint: string;
  accessToken: string;
  userId: number;
}

/** What `start()` resolves with for `peertube` (and `peertubeLegacyUpload`). */
export interface PeerTubeVideoResult {
  video: { id: number; uuid: string; shortUUID: string };
}

/** What `start()` resolves with for `peertube-import`: the server's JSON, `{}` when it sends none. */
export type PeerTubeImportResult = Record<string, unknown>;

export interface PeerTubeAuthOptions {
  endpoint: string;
  accessToken: string;
  retryDelays?: number[];
  getAccessToken?: () => string | Promise<string>;
}

export interface PeerTubeLoginOptions {
  endpoint: string;
  username: string;
  password: string;
  /** Two-factor code, when the account requires one (`code: 'missing_two_factor'`). */
  otp?: string;
  clientId?: string;
  clientSecret?: string;
  retryDelays?: number[];
}

export interface PeerTubeRefreshOptions {
  endpoint: string;
  refreshToken: string;
  clientId: string;
  clientSecret: string;
  retryDelays?: number[];
}

export interface PeerTubeToken {
  token_type: 'Bearer' | string;
  access_token: string;
  refresh_token: string;
  expires_in: number;
  refresh_token_expires_in?: number;
  client_id: string;
  client_secret: string;
}

export interface PeerTubeUserImport {
  id: number;
  state: { id: 1 | 2 | 3 | 4; label: string };
  createdAt: string;
}

export interface PeerTubeListImportsOptions extends PeerTubeAuthOptions {
  start?: number;
  count?: number;
  sort?: string;
  search?: string;
  targetUrl?: string;
  videoChannelSyncId?: number;
}

export type PeerTubeLegacyUploadOptions = PeerTubeAuthOptions & Omit<PeerTubeUploadOptions, 'provider' | keyof CommonUploadOptions | 'accessToken'>;

export type PeerTubeImportVideoOptions = PeerTubeLegacyUploadOptions & { targetUrl?: string; magnetUri?: string };

/** One of my video imports (`peertubeListImports`, `peertubeImportVideo`), as PeerTube describes it. */
export interface PeerTubeVideoImport {
  id: number;
  targetUrl?: string | null;
  magnetUri?: string | null;
  torrentName?: string | null;
  state: { id: number; label: string };
  error?: string | null;
  createdAt: string;
  updatedAt: string;
  video?: { id: number; uuid: string; shortUUID?: string; name: string; [key: string]: unknown } | null;
  [key: string]: unknown;
}

/** An avatar or banner size as PeerTube returns it (`peertubeUpdateAvatar`, `peertubeUpdateBanner`). */
export interface PeerTubeActorImage {
  width: number;
  height?: number;
  path?: string;
  fileUrl?: string;
  createdAt: string;
  updatedAt: string;
  [key: string]: unknown;
}
"#;

#[cfg(feature = "apivideo")]
#[wasm_bindgen(typescript_custom_section)]
const TS_APIVIDEO: &'static str = r#"
export interface UploadProviders {
  apivideo: { options: ApiVideoUploadOptions; result: ApiVideoVideo };
}

export interface ApiVideoUploadOptions extends CommonUploadOptions {
  provider: 'apivideo';
  /** A delegated upload token (safe to give to a browser). */
  uploadToken: string;
  /** Default https://ws.api.video (sandbox: https://sandbox.api.video). */
  endpoint?: string;
  /** Upload into an existing, empty video container. */
  videoId?: string;
  /** Title of the new video. Default: the file name. */
  videoName?: string;
  /** 5 MiB to 128 MiB; default 32 MiB. */
  chunkSize?: number;
  /** Parts in flight at once after the first (which creates the video): 1 to 6, default 2.
   *  1 sends them one after another, like api.video's own uploader. Left unset, a first part
   *  faster than ~150 MiB/s (a LAN or loopback, where parallel parts only compete for CPU)
   *  makes the rest go one at a time. */
  concurrency?: number;
}

export interface ProgressiveUploadOptions {
  provider: 'apivideo';
  uploadToken: string;
  endpoint?: string;
  videoId?: string;
  videoName?: string;
  retryDelays?: number[];
  onProgress?: (progress: UploadProgress) => void;
}

export interface ApiVideoVideo {
  videoId: string;
  title?: string;
  assets?: { iframe?: string; player?: string; hls?: string; thumbnail?: string; mp4?: string };
  [key: string]: unknown;
}

export interface ApiVideoAuthOptions {
  /** A Bearer access token from apiVideoAuthenticate (trusted pages only). */
  accessToken: string;
  endpoint?: string;
  retryDelays?: number[];
  getAccessToken?: () => string | Promise<string>;
}

export interface ApiVideoListTokensOptions extends ApiVideoAuthOptions {
  sortBy?: 'createdAt' | 'ttl';
  sortOrder?: 'asc' | 'desc';
  currentPage?: number;
  pageSize?: number;
}

export interface ApiVideoUploadToken {
  token: string;
  ttl: number;
  createdAt: string;
  expiresAt?: string | null;
}

export interface ApiVideoAccessToken {
  token_type: 'Bearer' | string;
  access_token: string;
  refresh_token: string;
  expires_in: number;
}

/** api.video's pagination block of a list answer. */
export interface ApiVideoPagination {
  currentPage: number;
  pageSize: number;
  pagesTotal: number;
  itemsTotal: number;
  currentPageItems: number;
  links: { rel: string; uri: string }[];
}
"#;

#[cfg(feature = "cloudreve")]
#[wasm_bindgen(typescript_custom_section)]
const TS_CLOUDREVE: &'static str = r#"
export interface UploadProviders {
  cloudreve: { options: CloudreveUploadOptions; result: CloudreveUploadResult };
}
"#;

#[cfg(feature = "mangadex")]
#[wasm_bindgen(typescript_custom_section)]
const TS_MANGADEX: &'static str = r#"
export interface UploadProviders {
  mangadex: { options: MangaDexUploadOptions; result: MangaDexChapterResult };
}
"#;
