#!/usr/bin/env bash
# Build an edoc-hub package with nothing but openssl, base64 and coreutils.
# Follows docs/wire-format.md step by step; tests/test_wire_format_doc.py runs it.
#
#   openssl-package.sh KEY CERT ISSUING_CA FROM TO FILE OUT [jws|cms]
#
# KEY: the agency's RSA private key (PEM); CERT: its certificate (PEM, one cert);
# ISSUING_CA: the intermediate CA certificate (PEM, one cert).
set -euo pipefail
KEY=$1 CERT=$2 CA=$3 FROM=$4 TO=$5 FILE=$6 OUT=$7 PROFILE=${8:-jws}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }   # RFC 4648 §5, no padding

# 1. The attachment manifest entry: size and SHA-256 of the exact bytes.
size=$(stat -c %s "$FILE")
sha=$(sha256sum "$FILE" | cut -d' ' -f1)
name=$(basename "$FILE")

# 2. The header JSON. These bytes are what gets signed; they are never re-serialised.
mid=$(cat /proc/sys/kernel/random/uuid)
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
today=$(date -u +%F)
printf '{"v":1,"message_id":"%s","kind":"document","from":"%s","to":["%s"],"sent_at":"%s",' \
  "$mid" "$FROM" "$TO" "$now" > "$work/header.json"
printf '"document":{"code":{"number":"7","notation":"UBND-VP"},' >> "$work/header.json"
printf '"promulgation":{"place":"Bắc Giang","date":"%s"},"document_type":"Công văn",' \
  "$today" >> "$work/header.json"
printf '"subject":"Văn bản lập bằng openssl","signer":{"full_name":"Nguyễn Văn A"}},' \
  >> "$work/header.json"
printf '"attachments":[{"id":"a1","name":"%s","media_type":"application/pdf","size":%s,"sha256":"%s"}]}' \
  "$name" "$size" "$sha" >> "$work/header.json"
header_b64=$(b64url < "$work/header.json")

# 3. The signature over the header bytes.
if [[ $PROFILE == jws ]]; then
  # x5c: standard base64 (not url) of each certificate's DER, leaf first.
  leaf=$(openssl x509 -in "$CERT" -outform DER | base64 -w0)
  inter=$(openssl x509 -in "$CA" -outform DER | base64 -w0)
  protected_b64=$(printf '{"alg":"RS256","x5c":["%s","%s"]}' "$leaf" "$inter" | b64url)
  # RS256 = RSASSA-PKCS1-v1_5 with SHA-256 over ASCII(protected "." payload).
  sig=$(printf '%s.%s' "$protected_b64" "$header_b64" \
        | openssl dgst -sha256 -sign "$KEY" -binary | b64url)
  value="$protected_b64..$sig"        # detached: the middle segment is empty
else
  # Detached CMS SignedData over the header bytes, standard base64 of the DER.
  value=$(openssl cms -sign -binary -md sha256 -in "$work/header.json" -signer "$CERT" \
          -inkey "$KEY" -certfile "$CA" -outform DER | base64 -w0)
fi

# 4. The package: attachments in standard base64.
content=$(base64 -w0 < "$FILE")
printf '{"v":1,"header":"%s","signatures":[{"profile":"%s","value":"%s"}],"attachments":[{"id":"a1","content":"%s"}]}\n' \
  "$header_b64" "$PROFILE" "$value" "$content" > "$OUT"
echo "$mid"
