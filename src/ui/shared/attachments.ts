// Image attachments for the chat page and the widget (issue #21): an attach button (file picker), paste
// and drop onto the message box, thumbnails with a remove button before sending. Shown only while the
// loaded model takes images (ModelInfo.vision); a text-only model hides the whole control.
import { ATTACHABLE_IMAGE_TYPES, imageFileToDataUrl, type VisionInfo } from '../../index';

export interface AttachmentElements {
  /** The attach button (opens the file picker). */
  button: HTMLButtonElement;
  /** A hidden <input type="file">. */
  input: HTMLInputElement;
  /** Where the thumbnails of the images to send are shown. */
  tray: HTMLElement;
  /** Where a paste or drop adds an image (the message box, the whole composer). */
  dropTargets: HTMLElement[];
  /** Reports a file refused (wrong type, too large, too many). */
  onError: (err: unknown) => void;
}

export class ImageAttachments {
  #vision: VisionInfo | null = null;
  #urls: string[] = [];
  /** Images already sent in this conversation (GLM-4V takes one per conversation). */
  #sent = 0;
  /** Files being read (counted against the room, so two quick pastes cannot both take the last place). */
  #pending = 0;

  constructor(private readonly ui: AttachmentElements) {
    ui.input.type = 'file';
    ui.input.accept = ATTACHABLE_IMAGE_TYPES.join(',');
    ui.input.hidden = true;
    ui.button.addEventListener('click', () => ui.input.click());
    ui.input.addEventListener('change', () => {
      void this.addFiles([...(ui.input.files ?? [])]);
      ui.input.value = ''; // choosing the same file again fires change again
    });
    for (const target of ui.dropTargets) {
      target.addEventListener('paste', (ev) => {
        // The message box sits inside the composer: the first listener that takes the event wins.
        if (ev.defaultPrevented) return;
        const files = [...(ev.clipboardData?.files ?? [])].filter((f) => f.type.startsWith('image/'));
        if (!this.#vision || files.length === 0) return;
        ev.preventDefault(); // an image, not its file name as text
        void this.addFiles(files);
      });
      target.addEventListener('dragover', (ev) => {
        if (!this.#vision || !ev.dataTransfer?.types.includes('Files')) return;
        ev.preventDefault();
        target.classList.add('dropping');
      });
      target.addEventListener('dragleave', () => target.classList.remove('dropping'));
      target.addEventListener('drop', (ev) => {
        target.classList.remove('dropping');
        if (!this.#vision || ev.defaultPrevented) return;
        ev.preventDefault();
        void this.addFiles([...(ev.dataTransfer?.files ?? [])]);
      });
    }
    this.setModel(null);
  }

  /** The loaded model's vision info (null: text only, the control is hidden); a new model starts empty. */
  setModel(vision: VisionInfo | null): void {
    this.#vision = vision;
    this.ui.button.hidden = vision === null;
    this.newConversation();
  }

  /** A new chat: nothing attached, nothing sent. */
  newConversation(): void {
    this.#sent = 0;
    this.#urls = [];
    this.#render();
  }

  /** How many more images this conversation may take. */
  get room(): number {
    return this.#vision ? Math.max(0, this.#vision.maxImages - this.#sent - this.#urls.length - this.#pending) : 0;
  }

  async addFiles(files: File[]): Promise<void> {
    for (const file of files) {
      if (this.room === 0) {
        const max = this.#vision?.maxImages ?? 0;
        this.ui.onError(new RangeError(`This model takes ${max} image${max === 1 ? '' : 's'} per conversation: start a new chat for another image.`));
        return;
      }
      this.#pending++;
      try {
        this.#urls.push(await imageFileToDataUrl(file));
      } catch (err) {
        this.ui.onError(err);
      } finally {
        this.#pending--;
      }
      this.#render();
    }
  }

  /** The data: URLs to send with the next message; the tray empties. */
  take(): string[] {
    const urls = this.#urls;
    this.#sent += urls.length;
    this.#urls = [];
    this.#render();
    return urls;
  }

  /** A send that failed gives its images back (they were not sent). */
  restore(urls: string[]): void {
    this.#sent -= urls.length;
    this.#urls = [...urls, ...this.#urls];
    this.#render();
  }

  #render(): void {
    const { tray, button } = this.ui;
    tray.replaceChildren(
      ...this.#urls.map((url, i) => {
        const item = document.createElement('figure');
        item.className = 'attachment';
        const img = document.createElement('img');
        img.src = url;
        img.alt = `attached image ${i + 1}`;
        const remove = document.createElement('button');
        remove.type = 'button';
        remove.className = 'remove';
        remove.textContent = '×';
        remove.setAttribute('aria-label', `Remove attached image ${i + 1}`);
        remove.addEventListener('click', () => {
          this.#urls.splice(i, 1);
          this.#render();
        });
        item.append(img, remove);
        return item;
      }),
    );
    tray.hidden = this.#urls.length === 0;
    button.disabled = this.#vision === null || this.room === 0;
    button.title = this.room === 0 && this.#vision ? 'This model takes one image per conversation: start a new chat for another' : 'Attach an image (or paste or drop one)';
  }
}

/** The images of a sent message, shown in the conversation. */
export function messageImages(urls: readonly string[]): HTMLElement[] {
  return urls.map((url, i) => {
    const img = document.createElement('img');
    img.className = 'message-image';
    img.src = url;
    img.alt = `image ${i + 1} sent with this message`;
    return img;
  });
}
