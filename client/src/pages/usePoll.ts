import { useCallback, useEffect, useState } from 'react';
import { ApiError, api, errorText } from '../api';
import type { Poll } from '../types';

export interface PollLoad {
  poll: Poll | null;
  error: string | null;
  notFound: boolean;
  setPoll: (p: Poll) => void;
  reload: () => void;
}

/** GET /api/polls/{id} (with the admin token when given). */
export function usePoll(id: string, adminToken: string | null = null): PollLoad {
  const [poll, setPoll] = useState<Poll | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notFound, setNotFound] = useState(false);
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setError(null);
    api
      .getPoll(id, adminToken)
      .then((p) => {
        if (!live) return;
        setPoll(p);
        setNotFound(false);
      })
      .catch((e) => {
        if (!live) return;
        if (e instanceof ApiError && e.status === 404) setNotFound(true);
        else setError(`The poll could not be loaded: ${errorText(e)}`);
      });
    return () => {
      live = false;
    };
  }, [id, adminToken, n]);
  const reload = useCallback(() => setN((x) => x + 1), []);
  return { poll, error, notFound, setPoll, reload };
}
