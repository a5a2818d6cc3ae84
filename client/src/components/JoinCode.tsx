import { groups } from '../state/codes';

/** A code shown in groups of four ("7709 4zj5"): the gap is spacing, so copying gives the bare code. */
export function GroupedCode({ code, className = '', testId }: { code: string; className?: string; testId?: string }) {
  return (
    <span className={`mono code-groups ${className}`} data-testid={testId} data-code={code}>
      {groups(code).map((g, i) => (
        <span key={i} className="code-group">
          {g}
        </span>
      ))}
    </span>
  );
}
