// Compile-only (tsc --noEmit): every public option, result and error type of `chunkup`, used the
// way an application would. The `@ts-expect-error` lines prove the types are precise: each of them
// must be a type error, or tsc fails on the unused directive.
import init, {
  ProgressiveUpload, Upload, UploadError,
  apiVideoAuthenticate, apiVideoCreateUploadToken, apiVideoDeleteUploadToken, apiVideoGetUploadToken,
  apiVideoListUploadTokens, apiVideoRefreshToken,
  cloudreveDeleteUploadSession, cloudreveLogin, cloudreveRefreshToken,
  mangadexCheckApprovalRequired, mangadexLogin, mangadexRefreshToken,
  peertubeImportStatus, peertubeImportVideo, peertubeLegacyUpload, peertubeListImports, peertubeLogin,
  peertubeRefreshToken, peertubeUpdateAvatar, peertubeUpdateBanner, peertubeUploadCaption
} from 'chunkup';
import type {
  ApiVideoAccessToken, ApiVideoAuthOptions, ApiVideoListTokensOptions, ApiVideoUploadOptions, ApiVideoUploadToken,
  ApiVideoVideo, CloudreveDeleteSessionOptions, CloudreveLoginOptions, CloudreveRefreshOptions, CloudreveToken,
  CloudreveUploadOptions, CloudreveUploadResult, CommonUploadOptions, MangaDexApprovalOptions, MangaDexChapterDraft,
  MangaDexLoginOptions, MangaDexRefreshOptions, MangaDexToken, MangaDexUploadOptions, PeerTubeAuthOptions,
  PeerTubeImportOptions, PeerTubeImportVideoOptions, PeerTubeLegacyUploadOptions, PeerTubeListImportsOptions,
  PeerTubeLoginOptions, PeerTubePrivacy, PeerTubeRefreshOptions, PeerTubeToken, PeerTubeUploadOptions,
  PeerTubeUserImport, PeerTubeVideoResult, ProgressiveUploadOptions, UploadErrorCode, UploadOptions, UploadProgress,
  UploadProvider, UploadResult, UploadResultFor, MangaDexChapterResult, PeerTubeImportResult, PeerTubeVideoImport
} from 'chunkup';
import initWeb, * as web from 'chunkup/web';

declare const file: File;
declare const files: FileList;
declare const pages: File[];
declare const refreshMyToken: () => Promise<string>;

const onProgress = ({ loaded, total, bytesPerSecond }: UploadProgress): void => {
  console.log(`${loaded}/${total} at ${bytesPerSecond.toFixed(0)} B/s`);
};
const common: CommonUploadOptions = {
  chunkSize: 8 * 1024 * 1024,
  retryDelays: [500, 1000, 3000],
  onProgress,
  signal: new AbortController().signal,
  getAccessToken: refreshMyToken
};

// ---- Upload, one options type per provider -------------------------------------------------------
const privacy: PeerTubePrivacy = 2;
const peertube: PeerTubeUploadOptions = {
  ...common, provider: 'peertube', endpoint: 'https://tube.example', accessToken: 't', channelId: 3,
  name: 'My video', privacy, category: 1, licence: 1, language: 'en', description: 'd', support: 's',
  tags: ['a', 'b'], nsfw: false, waitTranscoding: true, commentsPolicy: 1, downloadEnabled: true,
  generateTranscription: false, originallyPublishedAt: '2024-01-01T00:00:00Z',
  scheduleUpdate: { updateAt: '2030-01-01T00:00:00Z', privacy: 1 }, videoPasswords: ['pw1'],
  pluginData: { x: 1 }, filename: 'clip.mp4'
};
const peertubeImport: PeerTubeImportOptions = { provider: 'peertube-import', endpoint: '/peertube', accessToken: 't', userId: 1 };
const apivideo: ApiVideoUploadOptions = {
  provider: 'apivideo', uploadToken: 'to1', endpoint: 'https://sandbox.api.video', videoId: 'vi1', videoName: 'n',
  chunkSize: 16 * 1024 * 1024, onProgress
};
const cloudreve: CloudreveUploadOptions = {
  provider: 'cloudreve', endpoint: '/cloudreve', uri: 'cloudreve://my/dir/', accessToken: 't', policyId: 'p',
  purchaseTicket: 'x', overwrite: true, mimeType: 'video/mp4', metadata: { k: 'v' }, retryDelays: []
};
const chapter: MangaDexChapterDraft = { volume: '1', chapter: 12.5, title: null, translatedLanguage: 'en', externalUrl: null, publishAt: null };
const mangadex: MangaDexUploadOptions = {
  provider: 'mangadex', endpoint: '/mangadex-api', accessToken: 't', manga: 'uuid', groups: [], chapter,
  chapterId: 'c', version: 2, termsAccepted: true, existingSession: 'abandon', batchSize: 5, concurrency: 2
};

export async function uploads(): Promise<void> {
  const all: UploadOptions[] = [peertube, peertubeImport, apivideo, cloudreve, mangadex];
  const inputs: (File | Blob | File[] | FileList)[] = [file, new Blob(['x']), pages, files];
  for (const [i, options] of all.entries()) {
    const upload = new Upload(inputs[i % inputs.length], options);
    upload.pause();
    upload.resume();
    const { loaded, total }: UploadProgress = upload.progress;
    console.log(loaded, total);
    try {
      const result: unknown = await upload.start();
      if (options.provider === 'peertube') console.log((result as PeerTubeVideoResult).video.shortUUID);
      if (options.provider === 'apivideo') console.log((result as ApiVideoVideo).videoId);
      if (options.provider === 'cloudreve') console.log((result as CloudreveUploadResult).policyType);
    } catch (e) {
      if (e instanceof UploadError) {
        const code: UploadErrorCode = e.code;
        const provider: UploadProvider | 'chunkup' = e.provider;
        const status: number | undefined = e.status;
        const retryable: boolean = e.retryable;
        const err: Error = e; // an UploadError is an Error
        console.log(code, provider, status, retryable, e.name, e.message, err.stack);
      }
    } finally {
      await upload.abort();
      upload.free();
    }
  }
  const progressive = new ProgressiveUpload({ provider: 'apivideo', uploadToken: 'to1', onProgress } satisfies ProgressiveUploadOptions);
  progressive.append(new Blob(['part']));
  const video: ApiVideoVideo = await progressive.finish();
  console.log(video.assets?.hls, progressive.videoId);
}

// ---- One-request helpers ---------------------------------------------------------------------------
export async function helpers(): Promise<void> {
  await init();
  const login: PeerTubeLoginOptions = { endpoint: '/peertube', username: 'alice', password: 'secret', otp: '123456' };
  const token: PeerTubeToken = await peertubeLogin(login);
  const refresh: PeerTubeRefreshOptions = { endpoint: '/peertube', refreshToken: token.refresh_token, clientId: token.client_id, clientSecret: token.client_secret };
  const auth: PeerTubeAuthOptions = { endpoint: '/peertube', accessToken: (await peertubeRefreshToken(refresh)).access_token, getAccessToken: refreshMyToken };
  const last: PeerTubeUserImport | null = await peertubeImportStatus({ ...auth, userId: 1 });
  console.log(last?.state.label);
  const list: PeerTubeListImportsOptions = { ...auth, start: 0, count: 10, sort: '-createdAt', search: 'x' };
  console.log((await peertubeListImports(list)).total);
  const legacy: PeerTubeLegacyUploadOptions = { ...auth, channelId: 3, name: 'Legacy', privacy: 3 };
  const legacyResult: PeerTubeVideoResult = await peertubeLegacyUpload(file, legacy);
  const importVideo: PeerTubeImportVideoOptions = { ...legacy, targetUrl: 'https://example.invalid/v.mp4' };
  await peertubeImportVideo(null, importVideo);
  await peertubeUploadCaption(file, { ...auth, videoId: legacyResult.video.uuid, language: 'en' });
  console.log((await peertubeUpdateAvatar(file, { ...auth, channel: 'main' })).avatars.length);
  console.log((await peertubeUpdateBanner(file, { ...auth, channel: 'main' })).banners.length);

  const apiToken: ApiVideoAccessToken = await apiVideoAuthenticate({ apiKey: 'key', endpoint: 'https://sandbox.api.video' });
  await apiVideoRefreshToken({ refreshToken: apiToken.refresh_token });
  const apiAuth: ApiVideoAuthOptions = { accessToken: apiToken.access_token, retryDelays: [] };
  const created: ApiVideoUploadToken = await apiVideoCreateUploadToken({ ...apiAuth, ttl: 3600 });
  const listTokens: ApiVideoListTokensOptions = { ...apiAuth, sortBy: 'ttl', sortOrder: 'desc', currentPage: 1, pageSize: 25 };
  console.log((await apiVideoListUploadTokens(listTokens)).data.length);
  console.log((await apiVideoGetUploadToken({ ...apiAuth, token: created.token })).expiresAt);
  await apiVideoDeleteUploadToken({ ...apiAuth, token: created.token });

  const crLogin: CloudreveLoginOptions = { endpoint: '/cloudreve', email: 'a@b.c', password: 'p', otp: '1', captcha: 'c', ticket: 't' };
  const crToken: CloudreveToken = await cloudreveLogin(crLogin);
  const crRefresh: CloudreveRefreshOptions = { endpoint: '/cloudreve', refreshToken: crToken.refreshToken };
  await cloudreveRefreshToken(crRefresh);
  const del: CloudreveDeleteSessionOptions = { endpoint: '/cloudreve', accessToken: crToken.accessToken, sessionId: 's', uri: 'cloudreve://my/f' };
  await cloudreveDeleteUploadSession(del);

  const mdLogin: MangaDexLoginOptions = { authEndpoint: '/mangadex-auth', username: 'u', password: 'p', clientId: 'c', clientSecret: 's' };
  const mdToken: MangaDexToken = await mangadexLogin(mdLogin);
  const mdRefresh: MangaDexRefreshOptions = { authEndpoint: '/mangadex-auth', refreshToken: mdToken.refresh_token, clientId: 'c', clientSecret: 's' };
  await mangadexRefreshToken(mdRefresh);
  const approval: MangaDexApprovalOptions = { endpoint: '/mangadex-api', accessToken: mdToken.access_token, manga: 'uuid', locale: 'en' };
  const needsApproval: boolean = await mangadexCheckApprovalRequired(approval);
  console.log(needsApproval);
}

// ---- The web build has the same API behind an init() that fetches the .wasm ------------------------
export async function webBuild(): Promise<void> {
  await initWeb();
  const upload: web.Upload = new web.Upload(file, peertube);
  await upload.start().catch((e: unknown) => { if (e instanceof web.UploadError) console.log(e.code); });
}

// ---- Results typed by the options' provider ----------------------------------------------------------
export async function typedResults(): Promise<void> {
  const pt = await new Upload(file, peertube).start();
  const videoNumber: number = pt.video.id;
  const sha: string | string[] | undefined = pt.sha256; // with integrity: true
  const inline = await new Upload(file, { provider: 'peertube', endpoint: '/peertube', accessToken: 't', channelId: 1 }).start();
  const shortUUID: string = inline.video.shortUUID;
  const av = await new Upload(file, apivideo).start();
  const videoId: string = av.videoId;
  const cr = await new Upload(file, cloudreve).start();
  const policyType: string = cr.policyType;
  const fileSize: number | undefined = cr.file?.size;
  const md: MangaDexChapterResult = await new Upload(pages, mangadex).start();
  const chapterId: string | undefined = md.data?.id;
  const imported: PeerTubeImportResult = await new Upload(file, peertubeImport).start();
  const anyResult: UploadResult = await new Upload(file, peertube as UploadOptions).start();
  const forApi: UploadResultFor<ApiVideoUploadOptions> = av;
  const imports: PeerTubeVideoImport[] = (await peertubeListImports({ endpoint: '/peertube', accessToken: 't' })).data;
  console.log(videoNumber, sha, shortUUID, videoId, policyType, fileSize, chapterId, imported, anyResult, forApi, imports[0]?.state.label);
  // @ts-expect-error a PeerTube result has no videoId
  console.log(pt.videoId);
  // @ts-expect-error an api.video result has no video.id
  console.log(av.video.id);
  // @ts-expect-error the union of every provider's result needs narrowing first
  console.log(anyResult.video.id);
}

// ---- What the types refuse -----------------------------------------------------------------------------
export function refused(): void {
  // @ts-expect-error unknown provider
  new Upload(file, { provider: 'youtube', endpoint: 'x', accessToken: 't' });
  // @ts-expect-error PeerTube needs channelId
  new Upload(file, { provider: 'peertube', endpoint: 'x', accessToken: 't' });
  // @ts-expect-error Cloudreve takes no chunkSize (the storage policy decides)
  new Upload(file, { provider: 'cloudreve', endpoint: 'x', uri: 'cloudreve://my/f', accessToken: 't', chunkSize: 1 });
  // @ts-expect-error channelId is a number
  const wrong: PeerTubeUploadOptions = { provider: 'peertube', endpoint: 'x', accessToken: 't', channelId: '3' };
  // @ts-expect-error privacy is 1–5
  const badPrivacy: PeerTubePrivacy = 6;
  // @ts-expect-error existingSession is 'resume' | 'abandon' | 'fail'
  const badSession: MangaDexUploadOptions['existingSession'] = 'keep';
  // @ts-expect-error not an error code
  const badCode: UploadErrorCode = 'timeout';
  // @ts-expect-error onProgress gets an UploadProgress, not a number
  const badProgress: CommonUploadOptions = { onProgress: (p: number) => p };
  console.log(wrong, badPrivacy, badSession, badCode, badProgress);
}
