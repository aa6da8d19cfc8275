import { useCallback, useEffect, useRef, useState } from 'react';
import { problemText } from './form';

/**
 * What a screen reads from the API when it opens: the value once read, the refusal in the API's words, and
 * `reload` for after a change. `read` may change between renders; the latest one is used.
 */
export function useLoaded<T>(read: () => Promise<T>) {
  const [value, setValue] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const latest = useRef(read);
  latest.current = read;
  const reload = useCallback(async () => {
    try {
      setValue(await latest.current());
      setError(null);
    } catch (caught) {
      setError(problemText(caught));
    }
  }, []);
  useEffect(() => {
    void reload();
  }, [reload]);
  return { value, setValue, error, setError, reload };
}
