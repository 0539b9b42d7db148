/**
 * The config form's "Copy as cell": a new code cell below the form's cell, holding the
 * ``%%modelforge finetune`` YAML the form keeps (hidden) beside the button. The kernel
 * cannot add cells to a notebook, so the page does it; the click is kept from the kernel,
 * whose own handler (where there is no extension) shows the text to copy instead.
 */

export const COPY_CLASS = 'modelforge-copy-cell';
export const SOURCE_CLASS = 'modelforge-cell-source';
const FORM_CLASS = 'modelforge-form';

/** The form's cell text when ``target`` is (inside) a form's Copy as cell button. */
export function cellTextFor(target: EventTarget | null): string | null {
  const element = target as Element | null;
  if (typeof element?.closest !== 'function') {
    return null;
  }
  const button = element.closest(`.${COPY_CLASS}`);
  const source = button?.closest(`.${FORM_CLASS}`)?.querySelector(`.${SOURCE_CLASS}`);
  const text = source?.textContent?.trim();
  return text ? text : null;
}

/**
 * Listen for Copy as cell clicks under ``root``. ``insert`` adds the cell below the one
 * holding the clicked element and says at once whether it found that cell; only then is the
 * click kept from the kernel (elsewhere the kernel's fallback still shows the text).
 */
export function installCopyCell(
  root: Document,
  insert: (from: Element, text: string) => boolean
): () => void {
  const listener = (event: Event): void => {
    const text = cellTextFor(event.target);
    if (text !== null && insert(event.target as Element, text)) {
      event.stopPropagation();
      event.preventDefault();
    }
  };
  root.addEventListener('click', listener, true);
  return () => root.removeEventListener('click', listener, true);
}
