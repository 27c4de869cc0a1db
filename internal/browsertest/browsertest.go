// Package browsertest starts a real headless Chromium for tests of the
// pages limpet serves (the dashboard), with chromedp. It is imported by
// tests only.
package browsertest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is where Debian installs Chromium (apt-get install
// chromium); .ci/run installs it.
const ChromiumPath = "/usr/bin/chromium"

// Start starts a fresh headless Chromium for the test and returns its
// context, which every action of the test shares, bounded to 30s in all.
// Without the browser the test is skipped, except under CI=true, where a
// missing browser is a broken machine. The browser is stopped and its
// profile removed when the test ends.
func Start(t testing.TB) context.Context {
	t.Helper()
	return StartWith(t)
}

// StartWith is Start with further options for the browser's command line,
// such as the flag that makes it trust a test certificate
// (chromedp.Flag("ignore-certificate-errors-spki-list", hash)).
func StartWith(t testing.TB, opts ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium is required under CI=true: %v (apt-get install chromium)", err)
		}
		t.Skipf("chromium not installed (%v): apt-get install chromium to run this test", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(ChromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		// Without these, Chromium reaches for Google's hosts, which this
		// closed network refuses, many times at every start.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Containers often have a tiny /dev/shm, where Chromium crashes.
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		// Chromium leaves its singleton socket's folder in $TMPDIR.
		chromedp.Env("TMPDIR=" + t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}, opts...)...,
	)
	t.Cleanup(acancel) // kills the browser and waits for it, before TempDir is removed
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}
