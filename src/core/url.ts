/**
 * `url` with its password (userinfo or `?password=`) replaced by `***`, safe
 * to log or put in an error. Used for store and broker URLs alike. Strings
 * that do not parse as URLs still get a best-effort scrub of `//user:pass@`.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.password && !parsed.searchParams.has('password')) return url;
    if (parsed.password) parsed.password = '***';
    if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
    return parsed.href;
  } catch {
    return url.replace(/^([^/]*\/\/[^:/@]*:)[^/]*@/, '$1***@').replace(/([?&]password=)[^&#]*/gi, '$1***');
  }
}

/**
 * A broker list (`amqp://a,amqp://b`, see `brokerUrlList`) with each URL's
 * password redacted as {@link redactUrl} does.
 */
export function redactUrls(list: string): string {
  return list
    .split(',')
    .map((u) => redactUrl(u.trim()))
    .join(',');
}
