// Tests: the HTTP gateway: http_request pages, a streamed 3 MB body, a 1 MB Range source, upgrade to http_request_update, v1-certified and tampered responses.
import Base64 "mo:core/Base64";
import CertifiedData "mo:core/CertifiedData";
import Prim "mo:⛔";
import Text "mo:core/Text";

// `tree` is the CBOR of a v1 asset tree (`http_assets` → path → SHA-256 of the body) and
// `root` its root hash; the test computes both, since Motoko's core library has no SHA-256.
persistent actor class HttpSite(tree : Blob, root : Blob) {
  type HeaderField = (Text, Text);

  type HttpRequest = {
    method : Text;
    url : Text;
    headers : [HeaderField];
    body : Blob;
    certificate_version : ?Nat16;
  };

  type HttpUpdateRequest = {
    method : Text;
    url : Text;
    headers : [HeaderField];
    body : Blob;
  };

  // Opaque to the gateway: it must hand the token back with exactly this type.
  type Token = { key : Text; index : Nat; encoding : { #identity; #gzip } };

  type StreamingCallbackHttpResponse = { body : Blob; token : ?Token };

  type StreamingStrategy = {
    #Callback : {
      callback : shared query Token -> async StreamingCallbackHttpResponse;
      token : Token;
    };
  };

  type HttpResponse = {
    status_code : Nat16;
    headers : [HeaderField];
    body : Blob;
    upgrade : ?Bool;
    streaming_strategy : ?StreamingStrategy;
  };

  let indexHtml : Text = "<!doctype html><title>http_site</title><h1>Hello from http_site</h1>\n";
  let chunkSize : Nat = 1_048_576;
  let bigSize : Nat = 3 * 1_048_576 + 12_345;
  let videoSize : Nat = 1_000_003;

  var counter : Nat = 0;

  CertifiedData.set(root);

  // Byte p of /big.bin is p mod 251; of /video.mp4, (7 p + 3) mod 256.
  func bigChunk(index : Nat) : Blob {
    let start = index * chunkSize;
    let len : Nat = if (start + chunkSize > bigSize) bigSize - start else chunkSize;
    Prim.arrayToBlob(Prim.Array_tabulate<Nat8>(len, func i = Prim.natToNat8((start + i) % 251)));
  };

  func video() : Blob {
    Prim.arrayToBlob(Prim.Array_tabulate<Nat8>(videoSize, func p = Prim.natToNat8((7 * p + 3) % 256)));
  };

  func pathOf(url : Text) : Text {
    switch (Text.split(url, #char '?').next()) {
      case (?path) path;
      case null url;
    };
  };

  // Appends the v1 `IC-Certificate` header when the query has a data certificate.
  func withCertificate(headers : [HeaderField]) : [HeaderField] {
    switch (CertifiedData.getCertificate()) {
      case (?certificate) {
        let value = "certificate=:" # Base64.encode(certificate) # ":, tree=:" # Base64.encode(tree) # ":";
        Prim.Array_tabulate<HeaderField>(
          headers.size() + 1,
          func i = if (i < headers.size()) headers[i] else ("IC-Certificate", value),
        );
      };
      case null headers;
    };
  };

  func response(status : Nat16, headers : [HeaderField], body : Blob) : HttpResponse {
    { status_code = status; headers; body; upgrade = null; streaming_strategy = null };
  };

  public query func http_request(request : HttpRequest) : async HttpResponse {
    switch (pathOf(request.url)) {
      case "/" {
        let headers = withCertificate([("Content-Type", "text/html; charset=utf-8")]);
        response(200, headers, Text.encodeUtf8(indexHtml));
      };
      case "/tampered" {
        // Certified as the index page's body, but serves something else.
        let headers = withCertificate([("Content-Type", "text/html; charset=utf-8")]);
        response(200, headers, Text.encodeUtf8("<!doctype html><h1>Not what was certified</h1>\n"));
      };
      case "/big.bin" {
        {
          status_code = 200;
          headers = [("Content-Type", "application/octet-stream")];
          body = bigChunk(0);
          upgrade = null;
          streaming_strategy = ?#Callback {
            callback = http_streaming;
            token = { key = "/big.bin"; index = 1; encoding = #identity };
          };
        };
      };
      case "/video.mp4" response(200, [("Content-Type", "video/mp4")], video());
      case "/counter" {
        { response(200, [], "") with upgrade = ?true };
      };
      case path {
        response(404, [("Content-Type", "text/plain")], Text.encodeUtf8("not found: " # path));
      };
    };
  };

  public shared query func http_streaming(token : Token) : async StreamingCallbackHttpResponse {
    if (token.key != "/big.bin") Prim.trap("http_streaming: unknown key " # token.key);
    let next = token.index + 1;
    {
      body = bigChunk(token.index);
      token = if (next * chunkSize < bigSize) ?{ token with index = next } else null;
    };
  };

  public func http_request_update(request : HttpUpdateRequest) : async HttpResponse {
    if (pathOf(request.url) != "/counter") {
      return response(404, [], Text.encodeUtf8("no update route for " # request.url));
    };
    counter += 1;
    response(200, [("Content-Type", "text/plain")], Text.encodeUtf8("counter=" # debug_show counter));
  };

  /// The counter as a query, so the test can check the update persisted.
  public query func get_counter() : async Nat { counter };
};
