import { describe, expect, it } from 'vitest';

import { RUN_CLASS_PREFIX, runIdFromClasses, stopTarget } from '../src/stop';

describe('the dashboard Stop relay', () => {
  it('reads the run id from the dashboard classes', () => {
    expect(
      runIdFromClasses(['widget-vbox', 'modelforge-dashboard', `${RUN_CLASS_PREFIX}demo-20261202-ab12`])
    ).toBe('demo-20261202-ab12');
    expect(runIdFromClasses(['modelforge-dashboard'])).toBeNull();
  });

  it('refuses anything that is not a run id', () => {
    expect(runIdFromClasses([`${RUN_CLASS_PREFIX}../../etc`])).toBeNull();
    expect(runIdFromClasses([`${RUN_CLASS_PREFIX}`])).toBeNull();
    expect(runIdFromClasses([`${RUN_CLASS_PREFIX}a/b`])).toBeNull();
  });

  it('ignores clicks that are not on an element', () => {
    expect(stopTarget(null)).toBeNull();
  });
});
