#!/usr/bin/env bash
# Regenerate the CMS test vectors with the openssl command line only.
#
# This is the independent check of the hub's verifier: every key, certificate,
# CRL and signature here is made by `openssl` (req, ca, genpkey, cms), and the
# package envelope is assembled with coreutils `base64`, `tr` and `printf` —
# nothing from the project's own code. tests/signing/test_vectors.py runs the
# verifier over every entry of manifest.json and requires the exact verdict and
# reason codes.
#
# All validity periods and CRL times are fixed calendar dates, and every case is
# judged at the fixed time AT below, so the committed vectors stay valid for
# decades; rerunning the script makes new keys and signatures with the same
# expected outcomes. Private keys live only in a temporary folder.
#
# Usage: tests/vectors/make_vectors.sh     (needs openssl >= 3.0, GNU coreutils)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export LC_ALL=C.UTF-8
export CADIR="$WORK" # overridden per `openssl ca` call; req reads the same config

AT="2025-06-01T10:00:00Z"          # validation time (and "now") of every case
SENT_AT="2025-06-01T17:00:00+07:00" # the same instant as the headers write it
CA_FROM=20240101000000Z
CA_TO=20491231235959Z
LEAF_FROM=20250101000000Z
LEAF_TO=20350101000000Z
A="000.00.14.H49" # Sở Nội vụ — the sender of most cases
B="000.00.15.H49" # Sở Tư pháp — co-signer / wrong sender
HUB="000.00.00.H49"

rm -rf "$HERE/pki" "$HERE/cases" "$HERE/manifest.json"
mkdir -p "$HERE/pki/crl" "$HERE/pki/crl-expired" "$HERE/pki/crl-impostor" "$HERE/cases"

# --------------------------------------------------------------------------
# openssl ca configuration: one folder per CA, fixed dates given per command.
cat > "$WORK/ca.cnf" <<'EOF'
[ ca ]
default_ca = CA_default
[ CA_default ]
dir = $ENV::CADIR
database = $dir/index.txt
new_certs_dir = $dir/new
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
copy_extensions = none
[ policy_any ]
countryName = optional
organizationName = optional
organizationIdentifier = optional
commonName = supplied
[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = placeholder
[ v3_root ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ v3_inter ]
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ v3_leaf ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ v3_leaf_badku ]
basicConstraints = critical, CA:false
keyUsage = critical, keyEncipherment
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ v3_leaf_ca ]
basicConstraints = critical, CA:true
keyUsage = critical, digitalSignature, nonRepudiation, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ v3_leaf_serverauth ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ v3_leaf_docsign ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = 1.3.6.1.5.5.7.3.36
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ v3_leaf_token ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = clientAuth, emailProtection
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ crl_ext ]
authorityKeyIdentifier = keyid:always
EOF

new_ca_dir() { # name
  mkdir -p "$WORK/$1/new"
  : > "$WORK/$1/index.txt"
  echo 1000 > "$WORK/$1/serial"
  echo 01 > "$WORK/$1/crlnumber"
}

key() { # file kind(rsa2048|rsa1024|p256|p384)
  case "$2" in
    rsa*) openssl genpkey -quiet -algorithm RSA -pkeyopt "rsa_keygen_bits:${2#rsa}" -out "$1" ;;
    p256) openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" ;;
    p384) openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$1" ;;
  esac
}

# issue CA-DIR NAME KEYKIND SUBJECT EXT FROM TO  -> $WORK/NAME.{key,pem}
issue() {
  local ca=$1 name=$2 kind=$3 subj=$4 ext=$5 from=$6 to=$7
  key "$WORK/$name.key" "$kind"
  openssl req -new -utf8 -config "$WORK/ca.cnf" -key "$WORK/$name.key" -subj "$subj" \
    -out "$WORK/$name.csr"
  CADIR="$WORK/$ca" openssl ca -batch -utf8 -notext -preserveDN -config "$WORK/ca.cnf" \
    -cert "$WORK/$ca.pem" -keyfile "$WORK/$ca.key" -extensions "$ext" \
    -startdate "$from" -enddate "$to" -in "$WORK/$name.csr" -out "$WORK/$name.pem" 2>/dev/null
}

# self-signed root: NAME KEYKIND SUBJECT
root() {
  local name=$1
  new_ca_dir "$name"
  key "$WORK/$name.key" "$2"
  openssl req -new -utf8 -config "$WORK/ca.cnf" -key "$WORK/$name.key" -subj "$3" \
    -out "$WORK/$name.csr"
  CADIR="$WORK/$name" openssl ca -batch -utf8 -notext -preserveDN -selfsign \
    -config "$WORK/ca.cnf" -keyfile "$WORK/$name.key" -extensions v3_root \
    -startdate "$CA_FROM" -enddate "$CA_TO" -in "$WORK/$name.csr" -out "$WORK/$name.pem" \
    2>/dev/null
}

# revoke CA-DIR CERT DATE(YYMMDDHHMMSSZ): openssl stamps "now"; the index is
# then given the fixed revocation date so the vectors do not depend on today.
revoke() {
  CADIR="$WORK/$1" openssl ca -config "$WORK/ca.cnf" -cert "$WORK/$1.pem" \
    -keyfile "$WORK/$1.key" -revoke "$WORK/$2.pem" -crl_reason keyCompromise 2>/dev/null
  local serial
  serial=$(openssl x509 -in "$WORK/$2.pem" -noout -serial | cut -d= -f2)
  awk -v s="$serial" -v d="$3" 'BEGIN{FS=OFS="\t"} $4==s {split($3,p,","); $3=d "," p[2]} 1' \
    "$WORK/$1/index.txt" > "$WORK/$1/index.tmp"
  mv "$WORK/$1/index.tmp" "$WORK/$1/index.txt"
}

# crl CA-DIR OUT LASTUPDATE NEXTUPDATE: the CA's CRL with fixed times
crl() {
  local ca=$1 out=$2 last=$3 next=$4
  CADIR="$WORK/$ca" openssl ca -gencrl -config "$WORK/ca.cnf" -cert "$WORK/$ca.pem" \
    -keyfile "$WORK/$ca.key" \
    -crlexts crl_ext -crl_lastupdate "$last" -crl_nextupdate "$next" -out "$out" 2>/dev/null
}

# --------------------------------------------------------------------------
# The PKI: root → issuing CA → agency leaves, plus an untrusted root.
root root p384 "/C=VN/O=Vector PKI/CN=Vector Root CA"
issue root inter p256 "/C=VN/O=Vector PKI/CN=Vector Issuing CA" v3_inter "$CA_FROM" "$CA_TO"
new_ca_dir inter
issue root inter2 p256 "/C=VN/O=Vector PKI/CN=Vector Issuing CA 2 (revoked)" v3_inter \
  "$CA_FROM" "$CA_TO"
new_ca_dir inter2
root other p256 "/C=VN/O=Somebody Else/CN=Untrusted Root CA"

subj() { echo "/C=VN/O=$2/organizationIdentifier=$1/CN=$2"; }
issue inter rsa   rsa2048 "$(subj "$A" "Sở Nội vụ")" v3_leaf "$LEAF_FROM" "$LEAF_TO"
issue inter ec    p256    "$(subj "$A" "Sở Nội vụ")" v3_leaf "$LEAF_FROM" "$LEAF_TO"
issue inter p384  p384    "$(subj "$A" "Sở Nội vụ")" v3_leaf "$LEAF_FROM" "$LEAF_TO"
issue inter b     p256    "$(subj "$B" "Sở Tư pháp")" v3_leaf "$LEAF_FROM" "$LEAF_TO"
issue root  direct p256   "$(subj "$A" "Sở Nội vụ")" v3_leaf "$LEAF_FROM" "$LEAF_TO"
issue inter expired p256  "$(subj "$A" "Sở Nội vụ")" v3_leaf 20240101000000Z 20250101000000Z
issue inter future p256   "$(subj "$A" "Sở Nội vụ")" v3_leaf 20300101000000Z 20350101000000Z
issue inter revoked p256  "$(subj "$A" "Sở Nội vụ")" v3_leaf "$LEAF_FROM" "$LEAF_TO"
issue inter badku p256    "$(subj "$A" "Sở Nội vụ")" v3_leaf_badku "$LEAF_FROM" "$LEAF_TO"
issue root  casigner p256 "$(subj "$A" "Sở Nội vụ")" v3_leaf_ca "$LEAF_FROM" "$LEAF_TO"
issue inter serverauth p256 "$(subj "$A" "Sở Nội vụ")" v3_leaf_serverauth "$LEAF_FROM" "$LEAF_TO"
issue inter docsign p256  "$(subj "$A" "Sở Nội vụ")" v3_leaf_docsign "$LEAF_FROM" "$LEAF_TO"
issue inter token p256    "$(subj "$A" "Sở Nội vụ")" v3_leaf_token "$LEAF_FROM" "$LEAF_TO"
issue inter rsa1024 rsa1024 "$(subj "$A" "Sở Nội vụ")" v3_leaf "$LEAF_FROM" "$LEAF_TO"
issue inter noorg p256    "/C=VN/O=Sở Nội vụ/CN=Sở Nội vụ" v3_leaf "$LEAF_FROM" "$LEAF_TO"
issue inter2 underrev p256 "$(subj "$A" "Sở Nội vụ")" v3_leaf "$LEAF_FROM" "$LEAF_TO"
issue other untrusted p256 "$(subj "$A" "Sở Nội vụ")" v3_leaf "$LEAF_FROM" "$LEAF_TO"
# An impostor CA with the issuing CA's exact name but its own key.
root impostor p256 "/C=VN/O=Vector PKI/CN=Vector Issuing CA"

revoke inter revoked 250301000000Z
revoke root inter2 250201000000Z
crl inter "$HERE/pki/crl/inter.crl.pem" 20250101000000Z 20450101000000Z
crl inter2 "$HERE/pki/crl/inter2.crl.pem" 20250101000000Z 20450101000000Z
crl root "$HERE/pki/crl/root.crl.pem" 20250101000000Z 20450101000000Z
crl inter "$HERE/pki/crl-expired/inter.crl.pem" 20250101000000Z 20250201000000Z
cp "$HERE/pki/crl/root.crl.pem" "$HERE/pki/crl-expired/root.crl.pem"
crl impostor "$HERE/pki/crl-impostor/inter.crl.pem" 20250101000000Z 20450101000000Z
cp "$HERE/pki/crl/root.crl.pem" "$HERE/pki/crl-impostor/root.crl.pem"
cp "$WORK/root.pem" "$HERE/pki/root.pem"
cp "$WORK/other.pem" "$HERE/pki/other-root.pem"
cp "$WORK/inter.pem" "$HERE/pki/inter.pem"

# --------------------------------------------------------------------------
# Headers, attachment and packages.
printf '%%PDF-1.4\n%% Quyết định 166/QĐ-UBND — tệp thử nghiệm\n%%%%EOF\n' > "$WORK/att.pdf"
ATT_SHA=$(openssl dgst -sha256 -r "$WORK/att.pdf" | cut -d' ' -f1)
ATT_SIZE=$(wc -c < "$WORK/att.pdf")

b64() { base64 -w0 "$@"; }
b64url() { base64 -w0 "$@" | tr '+/' '-_' | tr -d '='; }

# header FILE MESSAGE-ID FROM [CLASSIFICATION] [SUBJECT]
header() {
  printf '{"v":1,"message_id":"%s","kind":"document","from":"%s","to":["%s"],"sent_at":"%s",' \
    "$2" "$3" "$HUB" "$SENT_AT" > "$1"
  printf '"document":{"code":{"number":"166","notation":"QĐ-UBND"},' >> "$1"
  printf '"promulgation":{"place":"Bắc Giang","date":"2025-06-01"},"document_type":"Quyết định",' >> "$1"
  printf '"subject":"%s","signer":{"full_name":"Nguyễn Văn A","position":"Giám đốc"},' \
    "${5:-Ban hành Kế hoạch cải cách hành chính}" >> "$1"
  printf '"classification":"%s"},' "${4:-public}" >> "$1"
  printf '"attachments":[{"id":"a1","name":"quyet-dinh.pdf","media_type":"application/pdf",' >> "$1"
  printf '"size":%d,"sha256":"%s"}]}' "$ATT_SIZE" "$ATT_SHA" >> "$1"
}

# sign HEADER CERTNAME OUT [extra openssl cms args...] -> base64 DER in OUT
sign() {
  local hdr=$1 who=$2 out=$3
  shift 3
  openssl cms -sign -binary -md sha256 -outform DER -in "$hdr" -signer "$WORK/$who.pem" \
    -inkey "$WORK/$who.key" -out "$WORK/sig.der" "$@"
  b64 "$WORK/sig.der" > "$out"
}

# package OUT HEADER-FILE ATTACHMENT-FILE SIG... (SIG = profile:file-with-value)
package() {
  local out=$1 hdr=$2 att=$3
  shift 3
  local sigs="" sep=""
  for s in "$@"; do
    sigs+="$sep{\"profile\":\"${s%%:*}\",\"value\":\"$(cat "${s#*:}")\"}"
    sep=","
  done
  printf '{"v":1,"header":"%s","signatures":[%s],"attachments":[{"id":"a1","content":"%s"}]}' \
    "$(b64url "$hdr")" "$sigs" "$(b64 "$att")" > "$out"
}

MANIFEST="$WORK/manifest.entries"
: > "$MANIFEST"
# case NAME DESCRIPTION VERDICT REASONS-JSON CRL-DIR ANCHOR SIGNATURES-JSON
case_entry() {
  local crls
  case "$5" in
    none) crls='["pki/crl/root.crl.pem"]' ;;
    *) crls="[\"pki/$5\"]" ;;
  esac
  [ -s "$MANIFEST" ] && printf ',\n' >> "$MANIFEST"
  printf '    {"name": "%s", "description": "%s", "package": "cases/%s.json",\n' "$1" "$2" "$1" \
    >> "$MANIFEST"
  printf '     "at": "%s", "now": "%s", "anchors": ["pki/%s"], "crls": %s,\n' \
    "$AT" "$AT" "$6" "$crls" >> "$MANIFEST"
  printf '     "verdict": "%s", "reasons": %s, "signatures": %s}' "$3" "$4" "$7" >> "$MANIFEST"
}
OK='[]'
sig_ok() { printf '[{"valid": true, "algorithm": "%s", "signing_time": %s}]' "$1" "$2"; }

n=0
mid() { n=$((n + 1)); printf '00000000-0000-4000-8000-%012d' "$n"; }

# one_signer NAME DESC VERDICT REASONS CERT [FROM] [CLASS] [CRL] [ANCHOR] [SIGS] -- cms args
one_signer() {
  local name=$1 desc=$2 verdict=$3 reasons=$4 who=$5 from=${6:-$A} cls=${7:-public}
  local crld=${8:-crl} anchor=${9:-root.pem} sigs=${10:-null}
  shift 10
  header "$WORK/$name.h" "$(mid)" "$from" "$cls"
  sign "$WORK/$name.h" "$who" "$WORK/$name.sig" "$@"
  package "$HERE/cases/$name.json" "$WORK/$name.h" "$WORK/att.pdf" "cms:$WORK/$name.sig"
  case_entry "$name" "$desc" "$verdict" "$reasons" "$crld" "$anchor" "$sigs"
}

CF=(-certfile "$WORK/inter.pem")
one_signer valid_rsa2048 "RSA-2048 leaf, intermediate included, signingTime present" ok "$OK" \
  rsa "" "" "" "" "$(sig_ok rsa-pkcs1v15-sha256 true)" "${CF[@]}"
one_signer valid_p256 "P-256 leaf, intermediate included" ok "$OK" \
  ec "" "" "" "" "$(sig_ok ecdsa-sha256 true)" "${CF[@]}"
one_signer valid_p384 "P-384 leaf signing with SHA-256" ok "$OK" \
  p384 "" "" "" "" "$(sig_ok ecdsa-sha256 true)" "${CF[@]}"
one_signer valid_noattr "no signed attributes (-noattr): signature over the header bytes" ok \
  "$OK" ec "" "" "" "" "$(sig_ok ecdsa-sha256 false)" -noattr "${CF[@]}"
one_signer valid_rsa_noattr "RSA-2048, -noattr" ok "$OK" \
  rsa "" "" "" "" "$(sig_ok rsa-pkcs1v15-sha256 false)" -noattr "${CF[@]}"
one_signer valid_keyid "signer identified by subjectKeyIdentifier (-keyid)" ok "$OK" \
  ec "" "" "" "" "$(sig_ok ecdsa-sha256 true)" -keyid "${CF[@]}"
one_signer valid_rsa_pss "RSA-PSS padding (-keyopt rsa_padding_mode:pss)" ok "$OK" \
  rsa "" "" "" "" "$(sig_ok rsa-pss-sha256 true)" -keyopt rsa_padding_mode:pss "${CF[@]}"
one_signer valid_direct "leaf issued by the root itself: no intermediate needed" ok "$OK" \
  direct "" "" "" "" "$(sig_ok ecdsa-sha256 true)"
one_signer intermediate_omitted "leaf under the issuing CA, intermediate not included" \
  rejected '["untrusted_chain"]' ec "" "" "" "" null
one_signer expired "leaf expired 2025-01-01, validation time 2025-06-01" rejected \
  '["cert_expired"]' expired "" "" "" "" null "${CF[@]}"
one_signer not_yet_valid "leaf valid from 2030" rejected '["cert_not_yet_valid"]' \
  future "" "" "" "" null "${CF[@]}"
one_signer revoked "leaf revoked 2025-03-01 (keyCompromise)" rejected '["cert_revoked"]' \
  revoked "" "" "" "" null "${CF[@]}"
one_signer intermediate_revoked "issuing CA revoked by the root CRL" rejected \
  '["cert_revoked"]' underrev "" "" "" "" null -certfile "$WORK/inter2.pem"
one_signer untrusted_root "chain ends in a root that is not a trust anchor" rejected \
  '["untrusted_chain"]' untrusted "" "" "" "" null -certfile "$WORK/other.pem"
one_signer wrong_key_usage "keyUsage keyEncipherment only" rejected '["key_usage"]' \
  badku "" "" "" "" null "${CF[@]}"
one_signer rsa1024 "RSA-1024 leaf" rejected '["weak_key"]' rsa1024 "" "" "" "" null "${CF[@]}"
one_signer ca_signer "a CA certificate (CA:true, with digitalSignature and nonRepudiation) signs" \
  rejected '["key_usage"]' casigner "" "" "" "" null
one_signer eku_server_auth "extendedKeyUsage serverAuth only (a TLS server certificate)" \
  rejected '["key_usage"]' serverauth "" "" "" "" null "${CF[@]}"
one_signer valid_eku_document_signing "extendedKeyUsage id-kp-documentSigning (RFC 9336)" ok \
  "$OK" docsign "" "" "" "" "$(sig_ok ecdsa-sha256 true)" "${CF[@]}"
one_signer valid_eku_client_email "extendedKeyUsage clientAuth and emailProtection" ok "$OK" \
  token "" "" "" "" "$(sig_ok ecdsa-sha256 true)" "${CF[@]}"
one_signer sha1_digest "digest algorithm SHA-1 (-md sha1 after -md sha256)" rejected \
  '["weak_algorithm"]' rsa "" "" "" "" null -md sha1 "${CF[@]}"
one_signer wrong_sender "signed by $A, header says from $B" rejected '["sender_mismatch"]' \
  ec "$B" "" "" "" null "${CF[@]}"
one_signer no_organization_identifier "signer certificate without organizationIdentifier" \
  rejected '["sender_mismatch"]' noorg "" "" "" "" null "${CF[@]}"
one_signer secret "validly signed but classified secret" rejected '["classified"]' \
  ec "" secret "" "" null "${CF[@]}"
one_signer no_crl "no CRL of the issuing CA configured (fail-closed)" rejected \
  '["revocation_unknown"]' ec "" "" none "" null "${CF[@]}"
one_signer crl_expired "the issuing CA's CRL passed nextUpdate (2025-02-01)" rejected \
  '["revocation_unknown"]' ec "" "" crl-expired "" null "${CF[@]}"
one_signer crl_bad_signature "CRL under the issuing CA's name signed by another key" rejected \
  '["revocation_unknown"]' ec "" "" crl-impostor "" null "${CF[@]}"
one_signer untrusted_anchor_config "valid package judged against another root" rejected \
  '["untrusted_chain"]' ec "" "" "" other-root.pem null "${CF[@]}"

# Packages edited after signing.
header "$WORK/t.h" "$(mid)" "$A"
sign "$WORK/t.h" ec "$WORK/t.sig" "${CF[@]}"
sed 's/Ban hành/Bãi bỏ/' "$WORK/t.h" > "$WORK/t2.h"
package "$HERE/cases/tampered_header.json" "$WORK/t2.h" "$WORK/att.pdf" "cms:$WORK/t.sig"
case_entry tampered_header "header subject changed after signing" rejected \
  '["bad_signature"]' crl root.pem null
cp "$WORK/t.h" "$WORK/t3.h"
sign "$WORK/t3.h" ec "$WORK/t3.sig" -noattr "${CF[@]}"
package "$HERE/cases/tampered_header_noattr.json" "$WORK/t2.h" "$WORK/att.pdf" "cms:$WORK/t3.sig"
case_entry tampered_header_noattr "header changed, signature without attributes" rejected \
  '["bad_signature"]' crl root.pem null
printf '%%PDF-1.4\n%% Quyết định 167/QĐ-UBND — tệp khác\n%%%%EOF\n' > "$WORK/att2.pdf"
package "$HERE/cases/tampered_attachment.json" "$WORK/t.h" "$WORK/att2.pdf" "cms:$WORK/t.sig"
case_entry tampered_attachment "attachment bytes replaced" rejected '["digest_mismatch"]' \
  crl root.pem "$(sig_ok ecdsa-sha256 true)"
head -c 300 "$WORK/sig.der" > "$WORK/trunc.der"
b64 "$WORK/trunc.der" > "$WORK/trunc.sig"
package "$HERE/cases/truncated_signature.json" "$WORK/t.h" "$WORK/att.pdf" "cms:$WORK/trunc.sig"
case_entry truncated_signature "CMS DER cut after 300 bytes" rejected '["bad_signature"]' \
  crl root.pem null
openssl rand -base64 600 | tr -d '\n' > "$WORK/garbage.sig"
package "$HERE/cases/garbage_signature.json" "$WORK/t.h" "$WORK/att.pdf" "cms:$WORK/garbage.sig"
case_entry garbage_signature "600 random bytes as the CMS value" rejected '["bad_signature"]' \
  crl root.pem null
printf 'not base64 at all!' > "$WORK/nonb64.sig"
package "$HERE/cases/signature_not_base64.json" "$WORK/t.h" "$WORK/att.pdf" \
  "cms:$WORK/nonb64.sig"
case_entry signature_not_base64 "CMS value that is not base64" rejected '["bad_signature"]' \
  crl root.pem null
package "$HERE/cases/unknown_profile.json" "$WORK/t.h" "$WORK/att.pdf" "xades:$WORK/t.sig"
case_entry unknown_profile "a profile the hub does not implement" rejected \
  '["unsupported_profile"]' crl root.pem null
package "$HERE/cases/no_signatures.json" "$WORK/t.h" "$WORK/att.pdf"
case_entry no_signatures "empty signature list" rejected '["unsigned"]' crl root.pem '[]'

# Several signatures on one package.
header "$WORK/co.h" "$(mid)" "$A"
sign "$WORK/co.h" ec "$WORK/co-a.sig" "${CF[@]}"
sign "$WORK/co.h" b "$WORK/co-b.sig" "${CF[@]}"
sign "$WORK/co.h" expired "$WORK/co-x.sig" "${CF[@]}"
package "$HERE/cases/cosigned.json" "$WORK/co.h" "$WORK/att.pdf" "cms:$WORK/co-a.sig" \
  "cms:$WORK/co-b.sig"
case_entry cosigned "sender and a second agency both sign" ok "$OK" crl root.pem \
  '[{"valid": true}, {"valid": true}]'
package "$HERE/cases/cosigned_bad_cosigner.json" "$WORK/co.h" "$WORK/att.pdf" \
  "cms:$WORK/co-a.sig" "cms:$WORK/co-x.sig"
case_entry cosigned_bad_cosigner "valid sender signature plus an expired co-signature" \
  rejected '["cert_expired"]' crl root.pem '[{"valid": true}, {"valid": false}]'
package "$HERE/cases/cosigned_without_sender.json" "$WORK/co.h" "$WORK/att.pdf" \
  "cms:$WORK/co-b.sig"
case_entry cosigned_without_sender "only another agency signed" rejected \
  '["sender_mismatch"]' crl root.pem '[{"valid": true}]'

# Hostile headers, validly signed: refused before any signature is looked at.
# hostile NAME DESCRIPTION SED-EXPRESSION (applied to a valid header before signing)
hostile() {
  header "$WORK/$1.src" "$(mid)" "$A"
  sed "$3" "$WORK/$1.src" > "$WORK/$1.h"
  cmp -s "$WORK/$1.src" "$WORK/$1.h" && { echo "hostile $1: sed changed nothing" >&2; exit 1; }
  sign "$WORK/$1.h" ec "$WORK/$1.sig" "${CF[@]}"
  package "$HERE/cases/$1.json" "$WORK/$1.h" "$WORK/att.pdf" "cms:$WORK/$1.sig"
  case_entry "$1" "$2" rejected '["malformed"]' crl root.pem null
}
hostile malformed_sent_at_year_1 "sent_at 0001-01-01T00:00:00+01:00 (year 0 in UTC)" \
  "s/\"sent_at\":\"[^\"]*\"/\"sent_at\":\"0001-01-01T00:00:00+01:00\"/"
hostile malformed_sent_at_year_9999 "sent_at 9999-12-31T23:58:00Z (sent_at + clock skew overflows)" \
  "s/\"sent_at\":\"[^\"]*\"/\"sent_at\":\"9999-12-31T23:58:00Z\"/"
hostile malformed_duplicate_classification "classification secret, then public (duplicate member)" \
  's/"classification":"public"/"classification":"secret","classification":"public"/'
hostile malformed_priority_true "priority true (a boolean is not the integer 1)" \
  's/"classification"/"priority":true,"classification"/'
hostile malformed_arabic_indic_sender "from in Arabic-Indic digits" \
  's/"from":"000.00.14.H49"/"from":"٠٠٠.٠٠.١٤.H٤٩"/'

# Unreadable packages.
printf 'this is not JSON' > "$HERE/cases/malformed_not_json.json"
case_entry malformed_not_json "the package is not JSON" rejected '["malformed"]' crl root.pem null
printf '{"v":1,"header":"!!not base64url!!","signatures":[],"attachments":[]}' \
  > "$HERE/cases/malformed_header_base64.json"
case_entry malformed_header_base64 "header is not base64url" rejected '["malformed"]' \
  crl root.pem null
printf '{"v":1,"kind":"document"}' > "$WORK/bad.h"
package "$HERE/cases/malformed_header_fields.json" "$WORK/bad.h" "$WORK/att.pdf" \
  "cms:$WORK/t.sig"
case_entry malformed_header_fields "header lacks required fields" rejected '["malformed"]' \
  crl root.pem null

{
  printf '{\n  "generator": "tests/vectors/make_vectors.sh",\n'
  printf '  "openssl": "%s",\n' "$(openssl version)"
  printf '  "cases": [\n'
  cat "$MANIFEST"
  printf '\n  ]\n}\n'
} > "$HERE/manifest.json"
echo "wrote $(ls "$HERE/cases" | wc -l) cases to $HERE"
