import { describe, expect, it } from 'vitest';

import { IKeyLike, sendButtonFor } from '../src/chatkeys';
import { cellTextFor } from '../src/copycell';

/** Just enough of a DOM element for ``closest`` and ``querySelector`` lookups. */
function element(tagName: string, classes: string[], parent: any = null, text = ''): any {
  const node: any = { tagName, classes, parent, children: [] as any[], textContent: text };
  node.closest = (selector: string): any => {
    for (let n = node; n; n = n.parent) {
      if (n.classes.includes(selector.slice(1))) {
        return n;
      }
    }
    return null;
  };
  node.querySelector = (selector: string): any => {
    for (const child of node.children) {
      if (child.classes.includes(selector.slice(1))) {
        return child;
      }
      const found = child.querySelector(selector);
      if (found) {
        return found;
      }
    }
    return null;
  };
  if (parent) {
    parent.children.push(node);
  }
  return node;
}

function key(target: any, extra: Partial<IKeyLike> = {}): IKeyLike {
  return {
    key: 'Enter',
    shiftKey: false,
    ctrlKey: false,
    altKey: false,
    metaKey: false,
    isComposing: false,
    target,
    ...extra
  };
}

describe('Enter in the chat', () => {
  const chat = element('DIV', ['modelforge-chat']);
  const box = element('TEXTAREA', [], chat);
  const send = element('BUTTON', ['modelforge-chat-send'], chat);

  it('presses the Send button of the same chat', () => {
    expect(sendButtonFor(key(box))).toBe(send);
  });

  it('leaves Shift+Enter (a new line), other keys and composing text alone', () => {
    expect(sendButtonFor(key(box, { shiftKey: true }))).toBeNull();
    expect(sendButtonFor(key(box, { key: 'a' }))).toBeNull();
    expect(sendButtonFor(key(box, { isComposing: true }))).toBeNull();
    expect(sendButtonFor(key(box, { ctrlKey: true }))).toBeNull();
  });

  it('ignores text areas outside a chat', () => {
    const other = element('TEXTAREA', [], element('DIV', ['jp-Cell']));
    expect(sendButtonFor(key(other))).toBeNull();
    expect(sendButtonFor(key(null))).toBeNull();
  });
});

describe('Copy as cell', () => {
  it("reads the cell text the form keeps beside its button", () => {
    const form = element('DIV', ['modelforge-form']);
    const row = element('DIV', [], form);
    const button = element('BUTTON', ['modelforge-copy-cell'], row);
    const icon = element('I', [], button);
    element('DIV', ['modelforge-cell-source'], form, '%%modelforge finetune\nmodel: m\n');
    expect(cellTextFor(icon)).toBe('%%modelforge finetune\nmodel: m');
  });

  it('ignores other clicks and a form without text', () => {
    const form = element('DIV', ['modelforge-form']);
    const button = element('BUTTON', ['modelforge-copy-cell'], form);
    expect(cellTextFor(button)).toBeNull();
    expect(cellTextFor(element('BUTTON', [], form))).toBeNull();
    expect(cellTextFor(null)).toBeNull();
  });
});
