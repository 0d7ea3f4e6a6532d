#!/usr/bin/env bash
# Regenerate the edXML / XML-DSig interop vectors with command-line tools only.
#
# The independent check of the `xmldsig` profile and of the edXML → header
# mapping of docs/edxml.md: keys, certificates and CRLs are made by `openssl`,
# the XML signatures by `xmlsec1 --sign` (the libxmlsec1 command line, as used
# by many edXML systems), and every package header is written here with
# `printf` from the mapping table — UUIDs (uuid5) with `openssl dgst -sha1`,
# digests with `openssl dgst -sha256`. Nothing comes from the project's
# code. tests/signing/test_xmldsig.py runs the verifier over every entry of
# manifest.json and requires the exact verdict, reasons and warnings, and
# checks that the project's mapping derives exactly these header bytes.
#
# Outputs (committed, small): samples/*.edxml (unsigned inputs), signed/*.edxml
# (what xmlsec1 wrote, tampered copies included), pki/ (root and CRLs),
# cases/*.json (packages), manifest.json. Every date is fixed and every case is
# judged at AT, so nothing ages; rerunning makes new keys and signatures with
# the same expected outcomes. Private keys live only in a temporary folder.
#
# Usage: tests/vectors/edxml/make_vectors.sh  (openssl >= 3.0, xmlsec1, GNU coreutils)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export LC_ALL=C.UTF-8
export CADIR="$WORK"

AT="2025-06-01T10:00:00Z"          # validation time and "now" of every case
CA_FROM=20240101000000Z
CA_TO=20491231235959Z
LEAF_FROM=20250101000000Z
LEAF_TO=20350101000000Z
A="000.00.14.H49" # Sở Nội vụ — sender of the document
B="000.00.15.H49" # Sở Tư pháp — recipient, answers with a status
C="000.00.16.H49" # Sở Tài chính — recipient, answers with the Status variant
EDXML_NS="http://www.mic.gov.vn/TBT/QCVN_102_2016"
DS="http://www.w3.org/2000/09/xmldsig#"

rm -rf "$HERE/samples" "$HERE/signed" "$HERE/pki" "$HERE/cases" "$HERE/manifest.json"
mkdir -p "$HERE/samples" "$HERE/signed" "$HERE/pki/crl" "$HERE/cases"

# --------------------------------------------------------------------------
# PKI: root (P-384) → issuing CA (P-256) → RSA-2048 agency leaves, as in
# tests/vectors/make_vectors.sh (XML signatures of deployed systems are RSA).
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
[ crl_ext ]
authorityKeyIdentifier = keyid:always
EOF

new_ca_dir() {
  mkdir -p "$WORK/$1/new"
  : > "$WORK/$1/index.txt"
  echo 1000 > "$WORK/$1/serial"
  echo 01 > "$WORK/$1/crlnumber"
}
key() {
  case "$2" in
    rsa2048) openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" ;;
    p256) openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" ;;
    p384) openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$1" ;;
  esac
}
issue() { # CA NAME KEYKIND SUBJECT EXT
  key "$WORK/$2.key" "$3"
  openssl req -new -utf8 -config "$WORK/ca.cnf" -key "$WORK/$2.key" -subj "$4" -out "$WORK/$2.csr"
  CADIR="$WORK/$1" openssl ca -batch -utf8 -notext -preserveDN -config "$WORK/ca.cnf" \
    -cert "$WORK/$1.pem" -keyfile "$WORK/$1.key" -extensions "$5" \
    -startdate "${6:-$LEAF_FROM}" -enddate "${7:-$LEAF_TO}" -in "$WORK/$2.csr" \
    -out "$WORK/$2.pem" 2>/dev/null
}
new_ca_dir root
key "$WORK/root.key" p384
openssl req -new -utf8 -config "$WORK/ca.cnf" -key "$WORK/root.key" \
  -subj "/C=VN/O=edXML Vector PKI/CN=edXML Vector Root CA" -out "$WORK/root.csr"
CADIR="$WORK/root" openssl ca -batch -utf8 -notext -preserveDN -selfsign -config "$WORK/ca.cnf" \
  -keyfile "$WORK/root.key" -extensions v3_root -startdate "$CA_FROM" -enddate "$CA_TO" \
  -in "$WORK/root.csr" -out "$WORK/root.pem" 2>/dev/null
issue root inter p256 "/C=VN/O=edXML Vector PKI/CN=edXML Vector Issuing CA" v3_inter \
  "$CA_FROM" "$CA_TO"
new_ca_dir inter
subj() { echo "/C=VN/O=$2/organizationIdentifier=$1/CN=$2"; }
issue inter a rsa2048 "$(subj "$A" "Sở Nội vụ")" v3_leaf
issue inter b rsa2048 "$(subj "$B" "Sở Tư pháp")" v3_leaf
issue inter c rsa2048 "$(subj "$C" "Sở Tài chính")" v3_leaf
for ca in root inter; do
  CADIR="$WORK/$ca" openssl ca -gencrl -config "$WORK/ca.cnf" -cert "$WORK/$ca.pem" \
    -keyfile "$WORK/$ca.key" -crlexts crl_ext -crl_lastupdate 20250101000000Z \
    -crl_nextupdate 20450101000000Z -out "$HERE/pki/crl/$ca.crl.pem" 2>/dev/null
done
cp "$WORK/root.pem" "$HERE/pki/root.pem"

# --------------------------------------------------------------------------
# Attachments and the unsigned samples (inputs of the Python tests too).
printf '%%PDF-1.4\n%% Quyết định 166/QĐ-UBND — tệp thử nghiệm edXML\n%%%%EOF\n' > "$WORK/att1.pdf"
printf 'PK\003\004 phu-luc (zipped appendix, test bytes)\n' > "$WORK/att2.zip"
# The same PDF with "%PDF-1" turned into "%PDF-2": what tampered-attachment.edxml decodes to.
{ printf '%%PDF-2'; tail -c +7 "$WORK/att1.pdf"; } > "$WORK/att1-tampered.pdf"
printf '%%PDF-1.4 another file\n' > "$WORK/att1-other.pdf"
ATT1_B64=$(base64 -w0 "$WORK/att1.pdf")
ATT2_B64=$(base64 -w76 "$WORK/att2.zip") # line-wrapped, as MIME-minded writers do
export ATT1_B64 ATT2_B64
awk '{ gsub(/@ATT1_B64@/, ENVIRON["ATT1_B64"]); gsub(/@ATT2_B64@/, ENVIRON["ATT2_B64"]); print }' \
  "$HERE/templates/document.edxml.in" > "$HERE/samples/document.edxml"
cp "$HERE/templates/status.edxml" "$HERE/templates/status-variant.edxml" "$HERE/samples/"

# --------------------------------------------------------------------------
# Signing with xmlsec1: a template Signature goes in as the last child of
# edXMLHeader; xmlsec1 fills DigestValue, SignatureValue and X509Data (leaf +
# issuing CA). ALG sets: modern (exc-c14n, RSA-SHA256, SHA-256) | inclusive
# (SignedInfo in c14n 1.0, RSA-SHA256) | deployed (c14n 1.0, RSA-SHA1, SHA-1 digest).
template() { # ALG
  local c14n="http://www.w3.org/2001/10/xml-exc-c14n#"
  local sm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
  local dm="http://www.w3.org/2001/04/xmlenc#sha256"
  if [ "$1" != modern ]; then
    c14n="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
  fi
  if [ "$1" = deployed ]; then
    sm="${DS}rsa-sha1"
    dm="${DS}sha1"
  fi
  printf '<Signature xmlns="%s"><SignedInfo>' "$DS"
  printf '<CanonicalizationMethod Algorithm="%s"/><SignatureMethod Algorithm="%s"/>' "$c14n" "$sm"
  printf '<Reference URI=""><Transforms>'
  printf '<Transform Algorithm="%senveloped-signature"/>' "$DS"
  printf '<Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></Transforms>'
  printf '<DigestMethod Algorithm="%s"/><DigestValue/></Reference></SignedInfo>' "$dm"
  printf '<SignatureValue/><KeyInfo><X509Data/></KeyInfo></Signature>'
}
# xmlsign SAMPLE SIGNER ALG OUT [edxml-ns]: the last form drops the Signature's
# own xmlns after signing, so it parses into the edXML default namespace.
xmlsign() {
  local sample=$1 who=$2 alg=$3 out=$4 tmpl
  tmpl=$(template "$alg")
  awk -v t="$tmpl" '{ if (!done && sub(/<\/(edXML|ed):edXMLHeader>/, t "&")) done = 1; print }' \
    "$HERE/samples/$sample.edxml" > "$WORK/tmpl.xml"
  xmlsec1 --sign --privkey-pem "$WORK/$who.key,$WORK/$who.pem,$WORK/inter.pem" \
    --output "$out" "$WORK/tmpl.xml"
  xmlsec1 --verify --trusted-pem "$WORK/root.pem" --untrusted-pem "$WORK/inter.pem" \
    "$out" > /dev/null 2>&1 || { echo "xmlsec1 cannot verify its own $out" >&2; exit 1; }
  if [ "${5:-}" = edxml-ns ]; then
    sed -i "s|<Signature xmlns=\"$DS\">|<Signature>|" "$out"
  fi
}
S="$HERE/signed"
xmlsign document a modern "$S/document.edxml"
xmlsign document a modern "$S/document-edxml-ns.edxml" edxml-ns
xmlsign document a inclusive "$S/document-c14n.edxml"
xmlsign document a deployed "$S/document-rsa-sha1.edxml" edxml-ns
xmlsign document b modern "$S/document-signed-by-b.edxml"
xmlsign status b modern "$S/status.edxml"
xmlsign status-variant c modern "$S/status-variant.edxml"
# Tampered after signing.
sed 's/Ban hành Kế hoạch/Bãi bỏ Kế hoạch/' "$S/document.edxml" > "$S/tampered-subject.edxml"
sed 's|<ContentTransferEncoded>JVBERi0x|<ContentTransferEncoded>JVBERi0y|' "$S/document.edxml" \
  > "$S/tampered-attachment.edxml"
# The first character of SignatureValue becomes another one ("<SignatureValue>" is 16 characters).
awk '!done && match($0, /<SignatureValue>./) {
  c = substr($0, RSTART + 16, 1)
  $0 = substr($0, 1, RSTART + 15) (c == "A" ? "B" : "A") substr($0, RSTART + 17); done = 1
} { print }' "$S/document.edxml" > "$S/tampered-signature.edxml"
sed 's| xmlns:xlink="http://www.w3.org/1999/xlink"||' "$S/document.edxml" \
  > "$S/undeclared-prefix.edxml"
for f in tampered-subject tampered-attachment tampered-signature; do
  cmp -s "$S/document.edxml" "$S/$f.edxml" && { echo "$f: sed changed nothing" >&2; exit 1; }
done

# --------------------------------------------------------------------------
# Attacks on the bytes that travel (docs/edxml.md, "What the signature covers"):
# copies of the xmlsec1-signed document changed only where an enveloped
# URI="" signature does not look. xmlsec1 still verifies most of them — that
# is what makes them attacks; its answer goes into the manifest ("xmlsec1",
# null where it cannot apply) and the hub must refuse every one.
xmlsec_ok() { # FILE -> true | false, judged at AT like every case
  local at=${AT%Z}
  if xmlsec1 --verify --trusted-pem "$WORK/root.pem" --verification-gmt-time "${at/T/ }" \
    "$1" > /dev/null 2>&1; then echo true; else echo false; fi
}
# The real MessageHeader with another subject: what a wrapping attacker wants read.
sed -n '/<edXML:MessageHeader>/,/<\/edXML:MessageHeader>/p' "$S/document.edxml" |
  sed 's/Ban hành Kế hoạch/Bãi bỏ Kế hoạch/' > "$WORK/forged-header.xml"
# wrap: the Signature moves in front of the real MessageHeader and carries the
# forged one in ds:Object; a reader taking the first MessageHeader reads the forgery.
awk -v forged="$WORK/forged-header.xml" '
  { line[NR] = $0 }
  /<edXML:MessageHeader>/ { hs = NR }
  /<\/edXML:MessageHeader>/ { he = NR }
  /<Signature xmlns=/ { ss = NR }
  /<\/Signature>/ { se = NR }
  END {
    while ((getline l < forged) > 0) f = f l "\n"
    a = index(line[ss], "<Signature"); b = index(line[se], "</Signature>")
    sig = substr(line[ss], a)
    for (i = ss + 1; i <= se; i++) sig = sig "\n" line[i]
    sig = substr(sig, 1, length(sig) - length(line[se]) + b - 1)
    # Whitespace text stays as it was, or the digest would change: the Signature
    # goes between the indentation and <edXML:MessageHeader>, and leaves none behind.
    for (i = 1; i < hs; i++) print line[i]
    h = index(line[hs], "<")
    print substr(line[hs], 1, h - 1) sig "<Object>\n" f "</Object></Signature>" substr(line[hs], h)
    for (i = hs + 1; i < ss; i++) print line[i]
    print substr(line[ss], 1, a - 1) substr(line[se], b + 12)
    for (i = se + 1; i <= NR; i++) print line[i]
  }' "$S/document.edxml" > "$S/attack-wrapped-header.edxml"
sed "s|<Signature xmlns=\"$DS\">|<Signature>|" "$S/attack-wrapped-header.edxml" \
  > "$S/attack-wrapped-header-edxml-ns.edxml"
# A comment splitting the subject: c14n drops it, a first-text-node reader stops at it.
sed 's/Ban hành Kế hoạch/Ban hành<!-- đã ký --> Kế hoạch/' "$S/document.edxml" \
  > "$S/attack-comment-in-subject.edxml"
sed '1a <!-- Văn bản đã được phê duyệt -->' "$S/document.edxml" > "$S/attack-comment-before-root.edxml"
sed '1a <?xml-stylesheet type="text/xsl" href="https://example.invalid/hien-thi.xsl"?>' \
  "$S/document.edxml" > "$S/attack-pi-before-root.edxml"
# An unsigned attachment in ds:Object, where a reader looking for AttachmentEncoded finds it.
BLOB=$(head -c 3000 /dev/zero | tr '\0' 'x' | base64 -w0)
sed "s|</KeyInfo></Signature>|</KeyInfo><Object><AttachmentEncoded xmlns=\"$EDXML_NS\"><Attachment><ContentId>phu-luc-2</ContentId><ContentTransferEncoded>$BLOB</ContentTransferEncoded><AttachmentName>phu-luc-2.pdf</AttachmentName></Attachment></AttachmentEncoded></Object></Signature>|" \
  "$S/document.edxml" > "$S/attack-object-attachment.edxml"
# A signer name no signature covers, next to the real certificate.
sed 's|</X509Data></KeyInfo>|<X509SubjectName>CN=Chủ tịch UBND tỉnh Bắc Giang</X509SubjectName></X509Data></KeyInfo>|' \
  "$S/document.edxml" > "$S/attack-keyinfo-subject-name.edxml"
# 2 KB of data in a namespace declaration nothing uses (exclusive c14n drops it).
sed "2s|<edXML |<edXML xmlns:blob=\"urn:blob:$(head -c 1500 /dev/zero | tr '\0' 'y' | base64 -w0)\" |" \
  "$S/document.edxml" > "$S/attack-namespace-blob.edxml"
for f in attack-wrapped-header attack-comment-in-subject attack-comment-before-root \
  attack-pi-before-root attack-object-attachment attack-keyinfo-subject-name attack-namespace-blob; do
  cmp -s "$S/document.edxml" "$S/$f.edxml" && { echo "$f: changed nothing" >&2; exit 1; }
done

# --------------------------------------------------------------------------
# Header bytes, written from the mapping table of docs/edxml.md.
uuid5() { # NAMESPACE NAME -> RFC 4122 version 5 UUID
  local h
  local ns_hex=${1//-/}
  # The namespace's 16 bytes (hex pairs as \xHH escapes for printf), then the UTF-8 name.
  # shellcheck disable=SC2059 # the format is built from hex digits on purpose
  h=$({ printf "$(sed 's/../\\x&/g' <<< "$ns_hex")"; printf '%s' "$2"; } |
    openssl dgst -sha1 -r | cut -c1-32)
  printf '%s-%s-5%s-%x%s-%s\n' "${h:0:8}" "${h:8:4}" "${h:13:3}" \
    $(((0x${h:16:1} & 3) | 8)) "${h:17:3}" "${h:20:12}"
}
NS=$(uuid5 6ba7b811-9dad-11d1-80b4-00c04fd430c8 "$EDXML_NS") # uuid5(NAMESPACE_URL, edXML ns)
DOC_ID=$(uuid5 "$NS" "$A,2025/06/01,166/QĐ-UBND")
REF_ID=$(uuid5 "$NS" "000.00.00.H49,2025/05/20,125/UBND-NC")
SENT_AT="2025-06-01T17:00:00+07:00"
sha() { openssl dgst -sha256 -r "$1" | cut -d' ' -f1; }
size() { wc -c < "$1" | tr -d ' '; }

document_header() { # SUBJECT FIRST-ATTACHMENT-FILE
  printf '{"v":1,"message_id":"%s","kind":"document","from":"%s","to":["%s","%s"],' \
    "$DOC_ID" "$A" "$B" "$C"
  printf '"sent_at":"%s","document":{"code":{"number":"166","notation":"QĐ-UBND"},' "$SENT_AT"
  printf '"promulgation":{"place":"Bắc Giang","date":"2025-06-01"},"document_type":"Quyết định",'
  printf '"subject":"%s",' "$1"
  printf '"content":"%s",' 'Điều 1. Ban hành kèm theo Quyết định này Kế hoạch <cải cách> hành chính.\nĐiều 2. Quyết định có hiệu lực kể từ ngày ký.'
  printf '"signer":{"full_name":"Nguyễn Văn A","position":"Phó Chủ tịch","competence":"KT. Chủ tịch"},'
  printf '"priority":1,"due_date":"2025-06-30","steering_type":1,'
  printf '"to_places":["Các sở, ban, ngành tỉnh","UBND các huyện, thành phố"],'
  printf '"business":{"doc_type":0,"reason":"Văn bản điện tử mới","paper":true},'
  printf '"response_for":[{"message_id":"%s","code":{"number":"125","notation":"UBND-NC"},' "$REF_ID"
  printf '"promulgation_date":"2025-05-20","from":"000.00.00.H49"}],"classification":"public"},'
  printf '"attachments":[{"id":"qd-166","name":"quyet-dinh-166.pdf","media_type":"application/pdf",'
  printf '"size":%s,"sha256":"%s"},' "$(size "$2")" "$(sha "$2")"
  printf '{"id":"phu-luc","name":"phu-luc.zip","media_type":"application/zip",'
  printf '"size":%s,"sha256":"%s"}]}' "$(size "$WORK/att2.zip")" "$(sha "$WORK/att2.zip")"
}
status_header() { # FROM CODE DESCRIPTION STAFF
  local mid
  mid=$(uuid5 "$NS" "status:$DOC_ID:$1:$2:$SENT_AT")
  printf '{"v":1,"message_id":"%s","kind":"status","from":"%s","to":["%s"],"sent_at":"%s",' \
    "$mid" "$1" "$A" "$SENT_AT"
  printf '"status":{"code":"%s","ref_message_id":"%s","description":"%s","reasons":[],' \
    "$2" "$DOC_ID" "$3"
  printf '"staff":"%s"},"attachments":[]}' "$4"
}
SUBJECT="Ban hành Kế hoạch cải cách hành chính nhà nước giai đoạn 2016–2020"
document_header "$SUBJECT" "$WORK/att1.pdf" > "$WORK/doc.h"
document_header "Bãi bỏ ${SUBJECT#Ban hành }" "$WORK/att1.pdf" > "$WORK/doc-tampered-subject.h"
document_header "$SUBJECT" "$WORK/att1-tampered.pdf" > "$WORK/doc-tampered-attachment.h"
status_header "$B" 03 "Đã tiếp nhận và vào sổ văn bản đến" "Lê Thị C" > "$WORK/status.h"
status_header "$C" 04 "Đã giao chuyên viên xử lý" "Phạm Văn D" > "$WORK/status-variant.h"

# package OUT HEADER EDXML [FIRST-ATTACHMENT-FILE | none]: the document's two
# attachments (the first one from the given file), or none for statuses.
package() {
  local atts="" first=${4:-$WORK/att1.pdf}
  if [ "$first" != none ]; then
    atts="{\"id\":\"qd-166\",\"content\":\"$(base64 -w0 "$first")\"},"
    atts+="{\"id\":\"phu-luc\",\"content\":\"$(base64 -w0 "$WORK/att2.zip")\"}"
  fi
  printf '{"v":1,"header":"%s","signatures":[{"profile":"xmldsig","value":"%s"}],"attachments":[%s]}' \
    "$(base64 -w0 "$2" | tr '+/' '-_' | tr -d '=')" "$(base64 -w0 "$3")" "$atts" > "$HERE/cases/$1.json"
}

MANIFEST="$WORK/manifest.entries"
: > "$MANIFEST"
# case NAME DESCRIPTION EDXML HEADER VERDICT REASONS WARNINGS ALLOW_SHA1 SIGNATURE-JSON
case_entry() {
  [ -s "$MANIFEST" ] && printf ',\n' >> "$MANIFEST"
  printf '    {"name": "%s", "description": "%s", "package": "cases/%s.json", "edxml": "%s",\n' \
    "$1" "$2" "$1" "$3" >> "$MANIFEST"
  printf '     "header_is_mapping": %s, "at": "%s", "now": "%s", "anchors": ["pki/root.pem"],\n' \
    "$4" "$AT" "$AT" >> "$MANIFEST"
  printf '     "crls": ["pki/crl"], "allow_sha1": %s, "verdict": "%s", "reasons": %s,\n' \
    "$8" "$5" "$6" >> "$MANIFEST"
  printf '     "warnings": %s, "signature": %s' "$7" "$9" >> "$MANIFEST"
  [ -n "${10:-}" ] && printf ',\n     %s' "${10}" >> "$MANIFEST"
  printf '}' >> "$MANIFEST"
}
sig() { printf '{"valid": %s, "algorithm": "%s", "namespace": "%s"}' "$1" "$2" "$3"; }

package document "$WORK/doc.h" "$S/document.edxml"
case_entry document "rich document, RSA-SHA256, exc-c14n, Signature in the XML-DSig namespace" \
  signed/document.edxml true ok '[]' '[]' false "$(sig true rsa-sha256 xmldsig)"
package document_edxml_namespace "$WORK/doc.h" "$S/document-edxml-ns.edxml"
case_entry document_edxml_namespace "Signature without its own xmlns: parsed into the edXML namespace" \
  signed/document-edxml-ns.edxml true ok '[]' '[]' false "$(sig true rsa-sha256 edxml)"
package document_c14n_inclusive "$WORK/doc.h" "$S/document-c14n.edxml"
case_entry document_c14n_inclusive "SignedInfo canonicalized with inclusive c14n 1.0, RSA-SHA256" \
  signed/document-c14n.edxml true ok '[]' '[]' false "$(sig true rsa-sha256 xmldsig)"
package document_rsa_sha1 "$WORK/doc.h" "$S/document-rsa-sha1.edxml"
case_entry document_rsa_sha1 "deployed algorithms (c14n 1.0, RSA-SHA1, SHA-1): refused by default" \
  signed/document-rsa-sha1.edxml true rejected '["weak_algorithm"]' '[]' false \
  "$(sig false rsa-sha1 edxml)"
cp "$HERE/cases/document_rsa_sha1.json" "$HERE/cases/document_rsa_sha1_allowed.json"
case_entry document_rsa_sha1_allowed "RSA-SHA1 with SHA-1 allowed: ok, weak_algorithm as a warning" \
  signed/document-rsa-sha1.edxml true ok '[]' '["weak_algorithm"]' true \
  "$(sig true rsa-sha1 edxml)"
package status "$WORK/status.h" "$S/status.edxml" none
case_entry status "status 03 in a MessageHeader, signed by the recipient" signed/status.edxml \
  true ok '[]' '[]' false "$(sig true rsa-sha256 xmldsig)"
package status_variant "$WORK/status-variant.h" "$S/status-variant.edxml" none
case_entry status_variant "status 04 wrapped in <Status>, prefix ed:, DD/MM/YYYY dates" \
  signed/status-variant.edxml true ok '[]' '[]' false "$(sig true rsa-sha256 xmldsig)"
package tampered_subject "$WORK/doc-tampered-subject.h" "$S/tampered-subject.edxml"
case_entry tampered_subject "Subject edited in the signed edXML (header derived from the edit)" \
  signed/tampered-subject.edxml true rejected '["bad_signature"]' '[]' false \
  "$(sig false rsa-sha256 xmldsig)"
package tampered_attachment_xml "$WORK/doc-tampered-attachment.h" "$S/tampered-attachment.edxml" \
  "$WORK/att1-tampered.pdf"
case_entry tampered_attachment_xml "AttachmentEncoded edited in the signed edXML (package built from it)" \
  signed/tampered-attachment.edxml true rejected '["bad_signature"]' '[]' false \
  "$(sig false rsa-sha256 xmldsig)"
package tampered_signature "$WORK/doc.h" "$S/tampered-signature.edxml"
case_entry tampered_signature "first character of SignatureValue replaced" \
  signed/tampered-signature.edxml true rejected '["bad_signature"]' '[]' false \
  "$(sig false rsa-sha256 xmldsig)"
package tampered_header_json "$WORK/doc-tampered-subject.h" "$S/document.edxml"
case_entry tampered_header_json "package header says another subject than the signed edXML" \
  signed/document.edxml false rejected '["bad_signature"]' '[]' false \
  "$(sig false rsa-sha256 xmldsig)"
package tampered_package_attachment "$WORK/doc.h" "$S/document.edxml" "$WORK/att1-other.pdf"
case_entry tampered_package_attachment "package attachment replaced; edXML and header intact" \
  signed/document.edxml true rejected '["digest_mismatch"]' '[]' false \
  "$(sig true rsa-sha256 xmldsig)"
package wrong_sender "$WORK/doc.h" "$S/document-signed-by-b.edxml"
case_entry wrong_sender "From is $A, signed with the certificate of $B" \
  signed/document-signed-by-b.edxml true rejected '["sender_mismatch"]' '[]' false \
  "$(sig true rsa-sha256 xmldsig)"
package undeclared_prefix "$WORK/doc.h" "$S/undeclared-prefix.edxml"
case_entry undeclared_prefix "xlink: prefix used but never declared (not well-formed)" \
  signed/undeclared-prefix.edxml false rejected '["malformed"]' '[]' false null
package unsigned "$WORK/doc.h" "$HERE/samples/document.edxml"
case_entry unsigned "xmldsig value is an edXML without Signature" samples/document.edxml true \
  rejected '["bad_signature"]' '[]' false null
# attack NAME FILE DESCRIPTION NAMESPACE DETAIL [XMLSEC1]: the real header, the real
# attachments, the attacked edXML; refused as unsigned_content, the detail names why.
attack() {
  local ok=${6:-$(xmlsec_ok "$S/$2.edxml")}
  package "$1" "$WORK/doc.h" "$S/$2.edxml"
  case_entry "$1" "$3" "signed/$2.edxml" true rejected '["unsigned_content"]' '[]' false \
    "$(sig false rsa-sha256 "$4")" "\"xmlsec1\": $ok, \"detail\": \"$5\""
}
attack attack_wrapped_header attack-wrapped-header \
  "Signature moved before the MessageHeader, a forged MessageHeader in ds:Object" xmldsig \
  "ds:Object inside Signature"
attack attack_wrapped_header_edxml_namespace attack-wrapped-header-edxml-ns \
  "the same wrapping with the Signature in the edXML namespace (xmlsec1 does not apply)" edxml \
  "edXML:Object inside Signature" null
attack attack_comment_in_subject attack-comment-in-subject \
  "a comment splits the signed Subject (c14n drops it, readers see two text nodes)" xmldsig \
  "a comment <!--đã ký--> inside Subject"
attack attack_comment_before_root attack-comment-before-root \
  "a comment between the XML declaration and the document element" xmldsig \
  "before the document element"
attack attack_pi_before_root attack-pi-before-root \
  "an xml-stylesheet processing instruction before the document element" xmldsig \
  "a processing instruction <?xml-stylesheet"
attack attack_object_attachment attack-object-attachment \
  "an unsigned AttachmentEncoded with a 4 KB attachment in ds:Object" xmldsig \
  "ds:Object inside Signature"
attack attack_keyinfo_subject_name attack-keyinfo-subject-name \
  "a forged X509SubjectName next to the real certificate in KeyInfo" xmldsig \
  "ds:X509SubjectName inside Signature/…/X509Data"
attack attack_namespace_blob attack-namespace-blob \
  "2 KB of data in a namespace declaration no element uses" xmldsig \
  "namespace declaration xmlns:blob="

{
  printf '{\n  "generator": "tests/vectors/edxml/make_vectors.sh",\n'
  printf '  "xmlsec1": "%s",\n  "openssl": "%s",\n' "$(xmlsec1 --version)" "$(openssl version)"
  printf '  "cases": [\n'
  cat "$MANIFEST"
  printf '\n  ]\n}\n'
} > "$HERE/manifest.json"
echo "wrote $(ls "$HERE/cases" | wc -l) cases to $HERE"
