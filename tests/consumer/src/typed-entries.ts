// Compile-only (tsc --noEmit): the single-provider entries `chunkup/<provider>` (and their `/web`,
// `/queue`, `/form` twins). Each declares only its own provider: the `Equal` checks pin the
// provider names, and every `@ts-expect-error` line must be a type error (another provider's
// options, types or helpers), or tsc fails on the unused directive.
import initPeerTube, { Upload as PeerTubeUpload, UploadError as PeerTubeError, peertubeLogin } from 'chunkup/peertube';
import type { PeerTubeUploadOptions, UploadOptions as PeerTubeOptions, UploadProvider as PeerTubeProvider } from 'chunkup/peertube';
import initPeerTubeWeb, * as peertubeWeb from 'chunkup/peertube/web';
import { UploadQueue as PeerTubeQueue } from 'chunkup/peertube/queue';
import { enhanceForm as peertubeForm } from 'chunkup/peertube/form';
import { UploadQueue as PeerTubeWebQueue } from 'chunkup/peertube/web/queue';
import { enhanceForm as peertubeWebForm } from 'chunkup/peertube/web/form';
import { ProgressiveUpload, Upload as ApiVideoUpload, apiVideoAuthenticate } from 'chunkup/apivideo';
import type { ApiVideoVideo, UploadProvider as ApiVideoProvider, UploadResult as ApiVideoResult } from 'chunkup/apivideo';
import * as apivideoWeb from 'chunkup/apivideo/web';
import { UploadQueue as ApiVideoQueue } from 'chunkup/apivideo/queue';
import { Upload as CloudreveUpload, cloudreveLogin } from 'chunkup/cloudreve';
import type { CloudreveUploadResult, UploadProvider as CloudreveProvider } from 'chunkup/cloudreve';
import { enhanceForm as cloudreveWebForm } from 'chunkup/cloudreve/web/form';
import { Upload as MangaDexUpload, mangadexLogin } from 'chunkup/mangadex';
import type { MangaDexChapterResult, MangaDexUploadOptions, UploadProvider as MangaDexProvider } from 'chunkup/mangadex';
import * as mangadexWeb from 'chunkup/mangadex/web';
import { UploadQueue as MangaDexQueue } from 'chunkup/mangadex/queue';
// @ts-expect-error chunkup/peertube has no api.video functions
import { apiVideoAuthenticate as notInPeerTube } from 'chunkup/peertube';
// @ts-expect-error chunkup/apivideo declares no PeerTube types
import type { PeerTubeVideoResult as NotInApiVideo } from 'chunkup/apivideo';
// @ts-expect-error chunkup/cloudreve declares no MangaDex types
import type { MangaDexUploadOptions as NotInCloudreve } from 'chunkup/cloudreve';
// @ts-expect-error chunkup/mangadex/web has no Cloudreve functions
import { cloudreveLogin as notInMangaDex } from 'chunkup/mangadex/web';

/** true when A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
const peertubeNames: Equal<PeerTubeProvider, 'peertube' | 'peertube-import'> = true;
const apivideoNames: Equal<ApiVideoProvider, 'apivideo'> = true;
const cloudreveNames: Equal<CloudreveProvider, 'cloudreve'> = true;
const mangadexNames: Equal<MangaDexProvider, 'mangadex'> = true;
const webNames: Equal<peertubeWeb.UploadProvider, PeerTubeProvider> = true;
const apivideoResult: Equal<ApiVideoResult, ApiVideoVideo & { sha256?: string | string[] }> = true;

declare const file: File;
declare const pages: File[];
declare const form: HTMLFormElement;

export async function peertube(): Promise<void> {
  await initPeerTube();
  await initPeerTubeWeb();
  const { access_token } = await peertubeLogin({ endpoint: '/peertube', username: 'u', password: 'p' });
  const options: PeerTubeUploadOptions = { provider: 'peertube', endpoint: '/peertube', accessToken: access_token, channelId: 1 };
  const any: PeerTubeOptions = options;
  const result = await new PeerTubeUpload(file, options).start();
  const id: number = result.video.id;
  const web = await new peertubeWeb.Upload(file, options).start();
  try {
    // @ts-expect-error chunkup/peertube takes no api.video options
    new PeerTubeUpload(file, { provider: 'apivideo', uploadToken: 't' });
  } catch (e) {
    if (e instanceof PeerTubeError) console.log(e.code, e.provider);
  }
  const queue = new PeerTubeQueue({ ...options, concurrency: 2, onFileDone: (_item, r) => console.log(r) });
  queue.add(file);
  // @ts-expect-error the PeerTube queue takes no Cloudreve options
  new PeerTubeQueue({ provider: 'cloudreve', uri: 'cloudreve://my/' });
  new PeerTubeWebQueue({ provider: 'peertube-import', endpoint: '/peertube', accessToken: 't', userId: 1 });
  peertubeForm(form, { provider: 'peertube', endpoint: '/peertube', accessToken: 't', channelId: 1, fields: r => ({ uuid: r.video.uuid }) });
  // @ts-expect-error the PeerTube form takes no MangaDex options
  peertubeWebForm(form, { provider: 'mangadex', endpoint: '/m', accessToken: 't', manga: 'm', chapter: {} });
  console.log(any, id, web.video.uuid, notInPeerTube, peertubeNames, webNames);
}

export async function apivideo(): Promise<void> {
  await apivideoWeb.default();
  const { access_token } = await apiVideoAuthenticate({ apiKey: 'k' });
  const video = await new ApiVideoUpload(file, { provider: 'apivideo', uploadToken: access_token }).start();
  const videoId: string = video.videoId;
  const progressive = new ProgressiveUpload({ provider: 'apivideo', uploadToken: 't' });
  const done: ApiVideoVideo = await progressive.finish();
  // @ts-expect-error chunkup/apivideo takes no PeerTube options
  new ApiVideoUpload(file, { provider: 'peertube', endpoint: 'x', accessToken: 't', channelId: 1 });
  new ApiVideoQueue({ provider: 'apivideo', uploadToken: 't' }).add([file]);
  const web: apivideoWeb.ApiVideoVideo = await new apivideoWeb.Upload(file, { provider: 'apivideo', uploadToken: 't' }).start();
  console.log(videoId, done, web, apivideoNames, apivideoResult, {} as NotInApiVideo);
}

export async function cloudreve(): Promise<void> {
  const { accessToken } = await cloudreveLogin({ endpoint: '/cloudreve', email: 'a@b.c', password: 'p' });
  const result: CloudreveUploadResult = await new CloudreveUpload(file, { provider: 'cloudreve', endpoint: '/cloudreve', uri: 'cloudreve://my/', accessToken }).start();
  // @ts-expect-error chunkup/cloudreve takes no MangaDex options
  new CloudreveUpload(pages, { provider: 'mangadex', endpoint: '/m', accessToken: 't', manga: 'm', chapter: {} });
  cloudreveWebForm(form, { provider: 'cloudreve', endpoint: '/cloudreve', uri: 'cloudreve://my/', accessToken, fields: r => ({ uri: r.uri }) });
  console.log(result.policyType, cloudreveNames, {} as NotInCloudreve);
}

export async function mangadex(): Promise<void> {
  await mangadexWeb.default();
  const { access_token } = await mangadexLogin({ authEndpoint: '/auth', username: 'u', password: 'p', clientId: 'c', clientSecret: 's' });
  const options: MangaDexUploadOptions = {
    provider: 'mangadex', endpoint: '/m', accessToken: access_token, manga: 'm', groups: [],
    chapter: { volume: null, chapter: '1', title: null, translatedLanguage: 'en' }
  };
  const chapter: MangaDexChapterResult = await new MangaDexUpload(pages, options).start();
  new MangaDexQueue(options).add([pages]);
  const web = await new mangadexWeb.Upload(pages, options).start();
  // @ts-expect-error chunkup/mangadex/web takes no Cloudreve options
  new mangadexWeb.Upload(file, { provider: 'cloudreve', endpoint: '/c', uri: 'cloudreve://my/', accessToken: 't' });
  console.log(chapter.data?.id, web.data?.id, mangadexNames, notInMangaDex);
}
