package certverify

// ForgetCRL drops the CRL cached from distribution point url, so that the
// next verification that needs it downloads it again. authd calls it when
// its own card CA revokes a certificate, so that its logins do not rely on
// the CRL from before the revocation until that CRL's nextUpdate. Without
// network access it does nothing.
func (v *Verifier) ForgetCRL(url string) {
	if v.fetcher != nil {
		v.fetcher.forget(url)
	}
}

// forget removes url from the cache. A download already in flight still
// completes and is cached: it started after the caller's change or races
// with it, and the next forget or refresh replaces it.
func (f *crlFetcher) forget(url string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.cache, url)
}
