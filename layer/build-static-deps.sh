#!/usr/bin/env bash
# Builds the dependencies of the fully static release binary for one architecture:
#
#   <out>/<arch>/include/{curl/,httplib.h,rapidjson/,CLI/}   <out>/<arch>/lib/libcurl.a
#
# libcurl and cpp-httplib come from their Debian *source* packages (Debian's patches applied by
# dpkg-source), fetched with `apt-get source` from deb-src entries derived from this machine's own
# apt sources. No registry address is written anywhere in the repository: it is read from
# /etc/apt at build time. The system apt configuration and lists are left untouched (a private
# sources file, lists and cache directory under <out>/apt are used instead).
#
# Idempotent: a stamp records the recipe (versions + configure flags); when it matches, nothing
# is rebuilt. The stamp holds no absolute path, so a copied tree (SAM's scratch copy) reuses it.
#
# Usage: layer/build-static-deps.sh x86_64|arm64 [out-dir, default build/static-deps]
# Env:   JOBS (default 2)
set -euo pipefail

arch="${1:?usage: $0 x86_64|arm64 [out-dir]}"
out="${2:-build/static-deps}"
jobs="${JOBS:-2}"

case "$arch" in
  x86_64) host=x86_64-linux-gnu ;;
  arm64) host=aarch64-linux-gnu ;;
  *) echo "build-static-deps: unknown arch '$arch' (x86_64|arm64)" >&2; exit 2 ;;
esac

mkdir -p "$out"
out="$(cd "$out" && pwd)"
prefix="$out/$arch"
src="$out/src"

# Plain HTTP to 127.0.0.1 is all the extension needs (AWS_LAMBDA_RUNTIME_API is a numeric
# host:port): everything else is off, which also keeps glibc's NSS out of the way (see
# docs/deploy.md, "Why static"). The flags are checked against `configure --help` below.
curl_configure_flags=(
  --disable-shared --enable-static
  --without-ssl --without-zlib --without-brotli --without-zstd --without-libidn2 --without-libpsl
  --without-libssh2 --without-libssh --without-wolfssh --without-nghttp2 --without-nghttp3
  --without-ngtcp2 --without-quiche --without-msh3 --without-librtmp --without-gssapi
  --without-hyper --without-libgsasl --without-ca-bundle --without-ca-path
  --disable-ldap --disable-ldaps --disable-rtsp --disable-dict --disable-telnet --disable-tftp
  --disable-pop3 --disable-imap --disable-smtp --disable-gopher --disable-mqtt --disable-ftp
  --disable-file --disable-smb --disable-manual --disable-ntlm --disable-ntlm-wb
  --disable-alt-svc --disable-hsts --disable-cookies --disable-doh --disable-netrc
  --disable-unix-sockets --disable-websockets --disable-threaded-resolver --disable-ares
  --disable-progress-meter --disable-libcurl-option --disable-verbose --disable-mime
  --disable-get-easy-options
  --disable-dependency-tracking
)
recipe="curl-recipe-3 ${curl_configure_flags[*]} httplib=header-only-no-tls-no-zlib-no-brotli"

log() { echo "build-static-deps[$arch]: $*" >&2; }

# One build per architecture at a time (`sam build --parallel` runs several layer targets at
# once): one that waited finds the stamp of the one that built.
exec 8>"$out/.$arch.lock"
flock 8
stamp="$prefix/.stamp"
if [[ -f "$stamp" && -f "$prefix/lib/libcurl.a" && -f "$prefix/include/httplib.h" &&
      "$(head -n1 "$stamp")" == "$recipe" ]]; then
  log "up to date ($(sed -n 2p "$stamp")); nothing to do"
  exit 0
fi

need() {
  command -v "$1" >/dev/null || { log "missing '$1': run 'make layer-deps' first"; exit 1; }
}
need apt-get
need dpkg-source
need "$host-gcc"

# --- sources (shared by both architectures; serialised because make may build both at once) ---

# Writes deb-src lines for every Debian suite of this machine's codename found in its apt
# sources (one-line and deb822 formats). Third-party repositories (other suites) rarely publish
# sources, so they are skipped.
derive_deb_src() {
  local codename
  codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
  [[ -n "$codename" ]] || { log "cannot read VERSION_CODENAME from /etc/os-release"; return 1; }
  local files=()
  [[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
  shopt -s nullglob
  files+=(/etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources)
  shopt -u nullglob
  local f
  for f in "${files[@]}"; do
    case "$f" in
      *.list)
        # deb [options] uri suite components...
        awk -v cn="$codename" '
          $1 == "deb" {
            i = 2; opts = "";
            if ($2 ~ /^\[/) { while (i <= NF) { opts = opts " " $i; if ($i ~ /\]$/) break; i++ } i++ }
            suite = $(i + 1);
            if (suite == cn || index(suite, cn "-") == 1) {
              line = "deb-src" opts; for (j = i; j <= NF; j++) line = line " " $j; print line
            }
          }' "$f"
        ;;
      *.sources)
        # deb822 stanzas separated by blank lines; keep those with Types containing "deb".
        awk -v cn="$codename" '
          function flush() {
            if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled !~ /^[ \t]*no/) {
              n = split(suites, s, /[ \t]+/); keep = "";
              for (k = 1; k <= n; k++)
                if (s[k] == cn || index(s[k], cn "-") == 1) keep = keep " " s[k];
              if (keep != "") {
                print "Types: deb-src"; print "URIs:" uris; print "Suites:" keep;
                print "Components:" comps; if (signed != "") print "Signed-By:" signed; print "";
              }
            }
            types = uris = suites = comps = signed = enabled = "";
          }
          /^#/ { next }
          /^[ \t]*$/ { flush(); next }
          { key = $1; sub(/:$/, "", key); val = $0; sub(/^[^:]*:/, "", val) }
          key == "Types" { types = val } key == "URIs" { uris = val } key == "Suites" { suites = val }
          key == "Components" { comps = val } key == "Signed-By" { signed = val }
          key == "Enabled" { enabled = val }
          END { flush() }' "$f" >&3
        ;;
    esac
  done
}

fetch_sources() {
  apt_dir="$out/apt"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$src"
  : > "$apt_dir/deb-src.sources"
  : > "$apt_dir/deb-src.list"
  derive_deb_src 3>>"$apt_dir/deb-src.sources" >>"$apt_dir/deb-src.list"
  mkdir -p "$apt_dir/sources.list.d"
  mv "$apt_dir/deb-src.sources" "$apt_dir/sources.list.d/deb-src.sources"
  if [[ ! -s "$apt_dir/deb-src.list" && ! -s "$apt_dir/sources.list.d/deb-src.sources" ]]; then
    log "no Debian deb entries for this release found in /etc/apt; cannot derive deb-src"
    exit 1
  fi
  local apt_opts=(
    -o "Dir::Etc::SourceList=$apt_dir/deb-src.list"
    -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
    -o "Dir::State::Lists=$apt_dir/lists"
    -o "Dir::Cache=$apt_dir/cache"
    -o "Dir::State::status=/var/lib/dpkg/status"
    -o "APT::Sandbox::User=root"
    -o "Debug::NoLocking=1"
  )
  log "apt-get update (private deb-src lists under $apt_dir)"
  apt-get "${apt_opts[@]}" update -qq >&2
  local pkg want
  for pkg in curl cpp-httplib; do
    # Prefer the exact version whose binary packages are installed (the development build's),
    # else whatever the machine's suites ship now.
    case "$pkg" in
      curl) want="$(dpkg-query -W -f='${source:Version}' libcurl4-openssl-dev 2>/dev/null || true)" ;;
      cpp-httplib) want="$(dpkg-query -W -f='${source:Version}' libcpp-httplib-dev 2>/dev/null || true)" ;;
    esac
    rm -rf "$src/$pkg.tmp" && mkdir -p "$src/$pkg.tmp"
    if ! { [[ -n "$want" ]] &&
           (cd "$src/$pkg.tmp" && apt-get "${apt_opts[@]}" source -qq "$pkg=$want" >&2); }; then
      log "$pkg${want:+ $want} not in the source index; taking the current one"
      rm -rf "$src/$pkg.tmp" && mkdir -p "$src/$pkg.tmp"
      (cd "$src/$pkg.tmp" && apt-get "${apt_opts[@]}" source -qq "$pkg" >&2)
    fi
    local dir
    dir="$(find "$src/$pkg.tmp" -mindepth 1 -maxdepth 1 -type d | head -n1)"
    rm -rf "$src/$pkg"
    mv "$dir" "$src/$pkg"
    basename "$(ls "$src/$pkg.tmp"/*.dsc)" .dsc > "$src/$pkg.version"
    if [[ "$pkg" == curl ]]; then
      # Debian's series ends with the patches that rename the library for its GnuTLS and NSS
      # flavours; debian/rules pops them for the OpenSSL build, and so do we (no TLS at all).
      local flavour
      for flavour in 99_nss 90_gnutls; do
        [[ -f "$src/curl/debian/patches/$flavour.patch" ]] &&
          (cd "$src/curl" && patch -R -p1 -s <"debian/patches/$flavour.patch")
      done
    fi
    rm -rf "$src/$pkg.tmp"
  done
}

(
  flock 9
  if [[ ! -f "$src/curl.version" || ! -f "$src/cpp-httplib.version" ]]; then
    t0=$SECONDS
    fetch_sources
    log "sources fetched in $((SECONDS - t0)) s: $(cat "$src/curl.version") $(cat "$src/cpp-httplib.version")"
  fi
) 9>"$out/.src.lock"

# --- libcurl, static, plain HTTP ---

t0=$SECONDS
build="$out/build-$arch"
rm -rf "$build" "$prefix"
mkdir -p "$build" "$prefix/include" "$prefix/lib"

# Fail loudly if this curl version dropped one of our flags (configure only warns).
help="$("$src/curl/configure" --help)"
for flag in "${curl_configure_flags[@]}"; do
  feature="${flag#--}" && feature="${feature#*-}"  # --without-ssl -> ssl, --disable-ftp -> ftp
  grep -Eq -- "--(with|without|enable|disable)-$feature([=[ ]|\$)" <<<"$help" ||
    { log "configure of this curl does not know $flag"; exit 1; }
done

log "configuring libcurl ($(cat "$src/curl.version")) for $host"
(
  cd "$build"
  CC="$host-gcc" CFLAGS="-O2 -ffunction-sections -fdata-sections" \
    "$src/curl/configure" --host="$host" --prefix="$prefix" "${curl_configure_flags[@]}" \
    >configure.log 2>&1 || { tail -n 40 configure.log >&2; exit 1; }
  make -C lib -j"$jobs" >make.log 2>&1 || { tail -n 40 make.log >&2; exit 1; }
  make -C lib install >>make.log 2>&1
  make -C include install >>make.log 2>&1
)
rm -rf "$prefix/lib/pkgconfig" "$prefix/lib/libcurl.la"

# --- header-only dependencies ---

# cpp-httplib's own single header from its Debian source (the compiled Debian library splits it
# and enables OpenSSL/zlib/brotli; the static build defines none of those macros).
cp "$src/cpp-httplib/httplib.h" "$prefix/include/httplib.h"
# RapidJSON and CLI11 are header-only and architecture-independent: copy the Debian packages'
# headers, so a cross build never has to put the host's /usr/include on its search path.
cp -r /usr/include/rapidjson /usr/include/CLI "$prefix/include/"

printf '%s\n%s %s\n' "$recipe" "$(cat "$src/curl.version")" "$(cat "$src/cpp-httplib.version")" \
  >"$stamp"
rm -rf "$build"
log "built in $((SECONDS - t0)) s: $(du -h "$prefix/lib/libcurl.a" | cut -f1) libcurl.a"
