/**
 * Enter sends in the chat playground (Shift+Enter starts a new line), as in every chat app.
 * A widget text area has no such key of its own: this listener, on the whole page, turns an
 * Enter in a chat's message box into a click on that chat's Send button. The text is
 * already with the kernel (the box syncs as it is typed), so Send reads all of it.
 */

export const CHAT_CLASS = 'modelforge-chat';
export const SEND_CLASS = 'modelforge-chat-send';

/** The parts of a key event this decision needs (a KeyboardEvent has them all). */
export interface IKeyLike {
  key: string;
  shiftKey: boolean;
  ctrlKey: boolean;
  altKey: boolean;
  metaKey: boolean;
  isComposing: boolean;
  target: EventTarget | null;
}

/** The Send button an Enter in a chat's message box should press, or null. */
export function sendButtonFor(event: IKeyLike): HTMLButtonElement | null {
  if (event.key !== 'Enter' || event.shiftKey || event.isComposing) {
    return null;
  }
  if (event.ctrlKey || event.altKey || event.metaKey) {
    return null; // left to the notebook's own shortcuts
  }
  const element = event.target as Element | null;
  if (typeof element?.closest !== 'function' || element.tagName !== 'TEXTAREA') {
    return null;
  }
  const send = element.closest(`.${CHAT_CLASS}`)?.querySelector(`.${SEND_CLASS}`);
  return (send as HTMLButtonElement | null | undefined) ?? null;
}

/** Listen for Enter in chat boxes under ``root``; returns what removes the listener. */
export function installChatKeys(root: Document): () => void {
  const listener = (event: KeyboardEvent): void => {
    const send = sendButtonFor(event);
    if (!send) {
      return;
    }
    event.preventDefault(); // no new line
    event.stopPropagation(); // and no notebook shortcut
    if (!send.disabled) {
      send.click();
    }
  };
  root.addEventListener('keydown', listener, true);
  return () => root.removeEventListener('keydown', listener, true);
}
