// Test page (issue #21): the chat page's image attachments (shared/attachments.ts) for a model that takes
// `?max=` images, sending builds the message (userMessage) and shows it as the chat page does; the
// library's browser preprocessing is on window for the e2e tests (createImageBitmap + OffscreenCanvas).
import './chat/chat.css';
import { preprocessImage, userMessage, type ChatCompletionMessageParam } from '../index';
import { ImageAttachments, messageImages } from './shared/attachments';

declare global {
  interface Window {
    glmTest: { sent: ChatCompletionMessageParam[]; errors: string[]; preprocessImage: typeof preprocessImage; ready: boolean };
  }
}

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const maxImages = Number(new URLSearchParams(location.search).get('max') ?? '1');
const state: Window['glmTest'] = { sent: [], errors: [], preprocessImage, ready: false };
window.glmTest = state;

const attachments = new ImageAttachments({
  button: byId<HTMLButtonElement>('attach'),
  input: byId<HTMLInputElement>('image-input'),
  tray: byId('attachments'),
  dropTargets: [byId('prompt'), byId('composer')],
  onError: (err) => state.errors.push(`${(err as Error).name}: ${(err as Error).message}`),
});
if (new URLSearchParams(location.search).get('vision') !== '0') {
  attachments.setModel({ imageSize: 14, patchSize: 7, maxImages, tokensPerImage: 3, boiTokenId: 1, eoiTokenId: 2 });
}

byId('composer').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const prompt = byId<HTMLTextAreaElement>('prompt');
  const images = attachments.take();
  const message = userMessage(prompt.value, images);
  state.sent.push(message);
  const text = document.createElement('div');
  text.className = 'text';
  text.textContent = prompt.value;
  const item = document.createElement('article');
  item.className = 'message user';
  item.append(...messageImages(images), text);
  byId('messages').append(item);
  prompt.value = '';
});
state.ready = true;
byId('log').textContent = 'ready';
