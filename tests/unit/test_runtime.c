/* test_runtime.c - the runtime's tensor files: .npy and safetensors round trips, a long
 * list of malformed files each rejected with the right message, atomic writes, limits
 * and dtype conversions. Fixtures are written into a fresh temp directory per test. */
#include <stdint.h>

#include "test_runtime_util.h"

/* Fills a tensor of the given dtype/shape with pseudo-random bytes from seed. */
static dnrt_tensor make_tensor(dnrt_dtype dt, int rank, const int64_t *shape, uint64_t seed) {
  dnrt_tensor t = {0};
  t.dtype = dt;
  t.rank = rank;
  size_t n = dnrt_dtype_size(dt);
  for (int i = 0; i < rank; i++) { t.shape[i] = shape[i]; n *= (size_t)shape[i]; }
  t.nbytes = n;
  t.data = malloc(n + 1);
  for (size_t i = 0; i < n; i++) ((unsigned char *)t.data)[i] = (unsigned char)(dnrt_rng_next(&seed) >> 56);
  return t;
}

/* Asserts a and b agree in dtype, shape and bytes. */
static void same_tensor(const dnrt_tensor *a, const dnrt_tensor *b) {
  ck_assert_int_eq(a->dtype, b->dtype);
  ck_assert_int_eq(a->rank, b->rank);
  for (int i = 0; i < a->rank; i++) ck_assert_int_eq(a->shape[i], b->shape[i]);
  ck_assert_uint_eq(a->nbytes, b->nbytes);
  ck_assert(a->nbytes == 0 || !memcmp(a->data, b->data, a->nbytes));
}

START_TEST(npy_roundtrip_all_dtypes_and_ranks) {
  static const int64_t shape[] = {2, 3, 1, 4, 2};
  for (int dt = DNRT_F32; dt <= DNRT_U8; dt++)
    for (int rank = 0; rank <= 5; rank++) {
      dnrt_tensor t = make_tensor((dnrt_dtype)dt, rank, shape, (uint64_t)(dt * 10 + rank)), r;
      const char *p = tr_path("a.npy");
      ck_assert_msg(dnrt_npy_write(p, &t) == 0, "%s", dnrt_error());
      ck_assert_msg(dnrt_npy_read(p, &r) == 0, "%s", dnrt_error());
      ck_assert_ptr_null(r.name);
      same_tensor(&t, &r);
      char *raw; size_t len;  /* NumPy's layout: v1.0, data starts at a multiple of 64 */
      ck_assert_int_eq(dnrt_read_file(p, 1 << 20, &raw, &len), 0);
      ck_assert(!memcmp(raw, "\x93NUMPY\x01\x00", 8));
      size_t hl = (unsigned char)raw[8] | (size_t)(unsigned char)raw[9] << 8;
      ck_assert_uint_eq((10 + hl) % 64, 0);
      ck_assert_int_eq(raw[10 + hl - 1], '\n');
      ck_assert_uint_eq(len, 10 + hl + t.nbytes);
      free(raw);
      dnrt_tensor_free(&t);
      dnrt_tensor_free(&r);
    }
  ck_assert_int_eq(tr_count_prefix(".a.npy."), 0);  /* no temporaries left behind */
}
END_TEST

/* Writes a .npy with the given version, header text and data bytes. */
static const char *npy_raw(int major, const char *header, size_t datalen) {
  unsigned char buf[4096] = {0x93, 'N', 'U', 'M', 'P', 'Y', (unsigned char)major, 0};
  size_t hl = strlen(header), off = major == 1 ? 10 : 12;
  for (size_t i = 0; i < off - 8; i++) buf[8 + i] = (unsigned char)(hl >> (8 * i));
  memcpy(buf + off, header, hl);
  for (size_t i = 0; i < datalen; i++) buf[off + hl + i] = (unsigned char)(i * 7);
  return tr_write("raw.npy", buf, off + hl + datalen);
}

START_TEST(npy_versions_and_shapes) {
  dnrt_tensor t;
  const char *p = npy_raw(2, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }\n", 24);
  ck_assert_msg(dnrt_npy_read(p, &t) == 0, "%s", dnrt_error());
  ck_assert_int_eq(t.rank, 1);
  ck_assert_int_eq(t.shape[0], 3);
  ck_assert_int_eq(t.dtype, DNRT_I64);
  ck_assert_int_eq(((unsigned char *)t.data)[9], 63);
  dnrt_tensor_free(&t);
  p = npy_raw(3, "{\"shape\": (), \"fortran_order\": False, \"descr\": \"<u1\"}", 1);
  ck_assert_msg(dnrt_npy_read(p, &t) == 0, "%s", dnrt_error());
  ck_assert_int_eq(t.rank, 0);
  ck_assert_int_eq(t.dtype, DNRT_U8);
  dnrt_tensor_free(&t);
  p = npy_raw(1, "{'descr':'|u1','fortran_order':False,'shape':(2,0,5)}", 0);
  ck_assert_msg(dnrt_npy_read(p, &t) == 0, "%s", dnrt_error());
  ck_assert_int_eq(t.rank, 3);
  ck_assert_int_eq(dnrt_count(&t), 0);
  dnrt_tensor_free(&t);
}
END_TEST

START_TEST(npy_malformed) {
  dnrt_tensor t;
  const char *ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  tr_fails(dnrt_npy_read(tr_write("m.npy", "\x93NUMPZ\x01\x00\x10\x00xxxxxxxxxxxxxxxx", 26), &t), "m.npy", "bad magic");
  tr_fails(dnrt_npy_read(tr_write("m.npy", "\x93NUM", 4), &t), "m.npy", "not a .npy");
  tr_fails(dnrt_npy_read(tr_write("m.npy", "\x93NUMPY\x01\x00\xff\x7f{}", 12), &t), "header length 32767 exceeds");
  tr_fails(dnrt_npy_read(tr_write("m.npy", "\x93NUMPY\x02\x00\xff\xff\xff\xff{}", 14), &t), "header length");
  tr_fails(dnrt_npy_read(npy_raw(4, ok, 24), &t), "unsupported .npy version 4.0");
  tr_fails(dnrt_npy_read(npy_raw(1, ok, 23), &t), "raw.npy", "[2, 3]", "needs 24 data bytes", "has 23", "truncated");
  tr_fails(dnrt_npy_read(npy_raw(1, ok, 25), &t), "needs 24", "has 25", "trailing bytes");
  tr_fails(dnrt_npy_read(npy_raw(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24), &t), "Fortran");
  tr_fails(dnrt_npy_read(npy_raw(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 24), &t), "big-endian");
  tr_fails(dnrt_npy_read(npy_raw(1, "{'descr': '<c8', 'fortran_order': False, 'shape': (2, 3), }", 48), &t), "unsupported .npy dtype '<c8'");
  tr_fails(dnrt_npy_read(npy_raw(1, "{'descr': '<f4', 'shape': (2, 3), }", 24), &t), "lacks 'fortran_order'");
  tr_fails(dnrt_npy_read(npy_raw(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", 24), &t), "appears twice");
  tr_fails(dnrt_npy_read(npy_raw(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", 24), &t), "unexpected key 'x'");
  tr_fails(dnrt_npy_read(npy_raw(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} junk", 24), &t), "junk");
  tr_fails(dnrt_npy_read(npy_raw(1, "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 3)}", 24), &t), "True or False");
  tr_fails(dnrt_npy_read(npy_raw(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3)}", 24), &t), "non-negative integer");
  tr_fails(dnrt_npy_read(npy_raw(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3}", 24), &t), "expected ')'");
  tr_fails(dnrt_npy_read(npy_raw(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776)}", 0), &t), "overflows");
  tr_fails(dnrt_npy_read(npy_raw(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", 0), &t), "too large");
  tr_fails(dnrt_npy_read(npy_raw(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1)}", 4), &t), "rank is more than 8");
  tr_fails(dnrt_npy_read(npy_raw(1, "{'descr': '<f4, 'fortran_order': False, 'shape': (2, 3)}", 24), &t), "raw.npy");
  tr_fails(dnrt_npy_read(tr_path("missing.npy"), &t), "missing.npy", "cannot open");
  tr_fails(dnrt_npy_read(tr_dir, &t), "not a regular file");
}
END_TEST

START_TEST(npy_write_rejects_inconsistent) {
  int64_t shape[] = {2, 2};
  dnrt_tensor t = make_tensor(DNRT_F32, 2, shape, 1);
  t.nbytes = 12;
  tr_fails(dnrt_npy_write(tr_path("w.npy"), &t), "w.npy", "holds 12 bytes", "needs 16");
  ck_assert_int_eq(access(tr_path("w.npy"), F_OK), -1);
  dnrt_tensor_free(&t);
}
END_TEST

START_TEST(safetensors_roundtrip) {
  static const int64_t s1[] = {3, 4}, s2[] = {5}, s3[] = {2, 0, 2}, s4[] = {1, 2, 1, 2, 1, 2, 1, 2};
  dnrt_tensor ts[6] = {make_tensor(DNRT_F32, 2, s1, 1), make_tensor(DNRT_F64, 1, s2, 2), make_tensor(DNRT_I32, 0, s1, 3),
                       make_tensor(DNRT_I64, 3, s3, 4), make_tensor(DNRT_U8, 1, s2, 5), make_tensor(DNRT_F32, 8, s4, 6)};
  const char *names[] = {"dense.w", "q\"uo\\te", "scalar", "empty", "bytes\n", "rank8"};
  for (int i = 0; i < 6; i++) ts[i].name = strdup(names[i]);
  const char *p = tr_path("w.safetensors");
  ck_assert_msg(dnrt_safetensors_write(p, ts, 6) == 0, "%s", dnrt_error());
  dnrt_tensors r;
  ck_assert_msg(dnrt_safetensors_read(p, &r) == 0, "%s", dnrt_error());
  ck_assert_int_eq(r.n, 6);
  for (int i = 0; i < 6; i++) {
    const dnrt_tensor *f = dnrt_tensors_find(&r, names[i]);
    ck_assert_ptr_nonnull(f);
    ck_assert_str_eq(f->name, names[i]);
    ck_assert_str_eq(r.t[i].name, names[i]);  /* file order is kept */
    same_tensor(&ts[i], f);
  }
  ck_assert_ptr_null(dnrt_tensors_find(&r, "nope"));
  char *raw; size_t len;
  ck_assert_int_eq(dnrt_read_file(p, 1 << 20, &raw, &len), 0);
  uint64_t hl = 0;
  for (int i = 7; i >= 0; i--) hl = hl << 8 | (unsigned char)raw[i];
  ck_assert_uint_eq((8 + hl) % 8, 0);  /* data section 8-byte aligned */
  free(raw);
  dnrt_tensors_free(&r);
  ck_assert_int_eq(r.n, 0);
  for (int i = 0; i < 6; i++) dnrt_tensor_free(&ts[i]);
}
END_TEST

START_TEST(safetensors_write_rejects) {
  static const int64_t s[] = {2};
  dnrt_tensor ts[2] = {make_tensor(DNRT_F32, 1, s, 1), make_tensor(DNRT_F32, 1, s, 2)};
  ts[0].name = strdup("a");
  ts[1].name = strdup("a");
  tr_fails(dnrt_safetensors_write(tr_path("d.safetensors"), ts, 2), "'a' appears twice");
  free(ts[1].name);
  ts[1].name = NULL;
  tr_fails(dnrt_safetensors_write(tr_path("d.safetensors"), ts, 2), "has no name");
  ts[1].name = strdup("b");
  ts[1].nbytes = 4;
  tr_fails(dnrt_safetensors_write(tr_path("d.safetensors"), ts, 2), "'b' holds 4 bytes", "needs 8");
  ck_assert_int_eq(access(tr_path("d.safetensors"), F_OK), -1);
  for (int i = 0; i < 2; i++) dnrt_tensor_free(&ts[i]);
}
END_TEST

/* Writes a safetensors file from a header and dlen data bytes; hlen < 0: the true length. */
static const char *st_raw(const char *json, long long hlen, size_t dlen) {
  size_t jl = strlen(json), n = 8 + jl + dlen;
  unsigned char *b = calloc(n, 1);
  uint64_t h = hlen < 0 ? jl : (uint64_t)hlen;
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(h >> (8 * i));
  memcpy(b + 8, json, jl);
  for (size_t i = 0; i < dlen; i++) b[8 + jl + i] = (unsigned char)i;
  const char *p = tr_write("s.safetensors", b, n);
  free(b);
  return p;
}

START_TEST(safetensors_handwritten) {
  dnrt_tensors r;
  const char *p = st_raw("{\"__metadata__\":{\"format\":\"pt\"}, \"b\\u00e9\\ud83d\\ude00\\n\": {\"dtype\":\"U8\",\"shape\":[2,2],"
                         "\"data_offsets\":[4,8]}, \"a\":{\"shape\":[1],\"dtype\":\"F32\",\"data_offsets\":[0,4]}}   ", -1, 8);
  ck_assert_msg(dnrt_safetensors_read(p, &r) == 0, "%s", dnrt_error());
  ck_assert_int_eq(r.n, 2);
  const dnrt_tensor *b = dnrt_tensors_find(&r, "b\xc3\xa9\xf0\x9f\x98\x80\n");
  ck_assert_ptr_nonnull(b);
  ck_assert_int_eq(((unsigned char *)b->data)[0], 4);
  ck_assert_int_eq(((unsigned char *)b->data)[3], 7);
  ck_assert_int_eq(dnrt_tensors_find(&r, "a")->dtype, DNRT_F32);
  dnrt_tensors_free(&r);
}
END_TEST

START_TEST(safetensors_malformed) {
  dnrt_tensors r;
  const char *t1 = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  tr_fails(dnrt_safetensors_read(tr_write("s.safetensors", "\x02\0\0", 3), &r), "s.safetensors", "only 3 bytes");
  tr_fails(dnrt_safetensors_read(st_raw(t1, 1000, 8), &r), "header length 1000 exceeds the file size");
  tr_fails(dnrt_safetensors_read(st_raw(t1, 1LL << 60, 8), &r), "header length 1152921504606846976");
  tr_fails(dnrt_safetensors_read(st_raw(t1, -1, 4), &r), "'a'", "data_offsets [0, 8] lie outside the data section of 4 bytes");
  tr_fails(dnrt_safetensors_read(st_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}", -1, 12), &r),
           "'a'", "span 12 bytes", "[2] of F32 needs 8");
  tr_fails(dnrt_safetensors_read(st_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", -1, 8), &r), "outside");
  tr_fails(dnrt_safetensors_read(st_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                        "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", -1, 8), &r), "overlap");
  tr_fails(dnrt_safetensors_read(st_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                        "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", -1, 12), &r), "'a' appears twice");
  tr_fails(dnrt_safetensors_read(st_raw("{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", -1, 4), &r), "unsupported dtype 'F16'");
  tr_fails(dnrt_safetensors_read(st_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", -1, 8), &r), "missing \"data_offsets\"");
  tr_fails(dnrt_safetensors_read(st_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", -1, 8), &r), "unexpected");
  tr_fails(dnrt_safetensors_read(st_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", -1, 8), &r), "non-negative integer");
  tr_fails(dnrt_safetensors_read(st_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", -1, 8), &r), "non-negative integer");
  tr_fails(dnrt_safetensors_read(st_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", -1, 8), &r), "overflows");
  tr_fails(dnrt_safetensors_read(st_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", -1, 4), &r), "9 entries");
  tr_fails(dnrt_safetensors_read(st_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", -1, 4), &r), "2 integers");
  tr_fails(dnrt_safetensors_read(st_raw("[1, 2]", -1, 0), &r), "not a JSON object");
  tr_fails(dnrt_safetensors_read(st_raw("{\"__metadata__\": 3}", -1, 0), &r), "__metadata__");
  tr_fails(dnrt_safetensors_read(st_raw("{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", -1, 4), &r), "NUL");
  tr_fails(dnrt_safetensors_read(st_raw("{\"\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", -1, 4), &r), "empty name");
  static const char *bad_json[] = {"{\"a\":1,}", "{\"a\" 1}", "{\"a\":tru}", "{\"a\":\"x}", "{\"a\":01}", "{\"a\":1.}",
                                   "{\"a\":\"\\x\"}", "{\"a\":\"\\ud800\"}", "{\"a\":[1 2]}", "{} {}", "{\"a\":\"\x01\"}",
                                   "{\"a\":-}", "{\"a\":\"\\u12g4\"}", "", "{"};
  for (size_t i = 0; i < sizeof bad_json / sizeof bad_json[0]; i++)
    tr_fails(dnrt_safetensors_read(st_raw(bad_json[i], -1, 0), &r), "s.safetensors", "bad JSON header");
  char deep[400];  /* nesting beyond the depth limit */
  memset(deep, '[', 200);
  memset(deep + 200, ']', 200);
  deep[0] = '{'; deep[1] = '"'; deep[2] = '"'; deep[3] = ':';
  deep[399] = '}';
  deep[398] = ']';
  char d2[401];
  memcpy(d2, deep, 400);
  d2[400] = 0;
  tr_fails(dnrt_safetensors_read(st_raw(d2, -1, 0), &r), "bad JSON header");
  size_t nv = (1 << 20) + 1, cap = 2 * nv + 16;  /* more values than the parser accepts */
  char *many = malloc(cap);
  size_t k = (size_t)snprintf(many, cap, "{\"a\":[");
  for (size_t i = 0; i < nv; i++) { many[k++] = '0'; many[k++] = ','; }
  memcpy(many + k - 1, "]}", 3);
  tr_fails(dnrt_safetensors_read(st_raw(many, -1, 0), &r), "too many values");
  free(many);
  ck_assert_int_eq(r.n, 0);
}
END_TEST

START_TEST(atomic_write_and_read_limits) {
  const char *p = tr_path("f.bin");
  ck_assert_int_eq(dnrt_write_atomic(p, "hello", 5), 0);
  ck_assert_int_eq(dnrt_write_atomic(p, "bye", 3), 0);  /* replaces */
  char *d; size_t n;
  ck_assert_int_eq(dnrt_read_file(p, 100, &d, &n), 0);
  ck_assert_uint_eq(n, 3);
  ck_assert_str_eq(d, "bye");
  free(d);
  tr_fails(dnrt_read_file(p, 2, &d, &n), "f.bin", "limit");
  ck_assert_ptr_null(d);
  ck_assert_int_eq(tr_count_prefix(".f.bin."), 0);
  tr_fails(dnrt_write_atomic(tr_path("nodir/x.bin"), "a", 1), "nodir/x.bin", "temporary");
  tr_fails(dnrt_write_atomic(tr_dir, "a", 1), "dnrt_test_");  /* a directory cannot be replaced */
  ck_assert_int_eq(tr_count_prefix("."), 2);  /* only . and .. */
}
END_TEST

START_TEST(conversions) {
  static const int64_t s[] = {7};
  for (int dt = DNRT_F64; dt <= DNRT_U8; dt++) {
    dnrt_tensor t = make_tensor((dnrt_dtype)dt, 1, s, (uint64_t)dt), c = t;
    c.data = malloc(t.nbytes);
    memcpy(c.data, t.data, t.nbytes);
    ck_assert_int_eq(dnrt_tensor_to_f32(&c), 0);
    ck_assert_int_eq(c.dtype, DNRT_F32);
    ck_assert_uint_eq(c.nbytes, 28);
    for (int i = 0; i < 7; i++) {
      double want = dt == DNRT_F64 ? ((double *)t.data)[i] : dt == DNRT_I32 ? ((int32_t *)t.data)[i]
                  : dt == DNRT_I64 ? (double)((int64_t *)t.data)[i] : ((unsigned char *)t.data)[i];
      float got = ((float *)c.data)[i];
      ck_assert((float)want == got || (want != want && got != got));
    }
    free(c.data);
    dnrt_tensor_free(&t);
  }
  int64_t v64[3] = {5, -7, 2147483647};
  dnrt_tensor t = {.dtype = DNRT_I64, .rank = 1, .shape = {3}, .nbytes = 24};
  t.data = malloc(24);
  memcpy(t.data, v64, 24);
  ck_assert_int_eq(dnrt_tensor_to_i32(&t), 0);
  ck_assert_int_eq(((int32_t *)t.data)[1], -7);
  ck_assert_int_eq(((int32_t *)t.data)[2], 2147483647);
  ck_assert_uint_eq(t.nbytes, 12);
  dnrt_tensor_free(&t);
  v64[2] = 2147483648LL;
  t = (dnrt_tensor){.dtype = DNRT_I64, .rank = 1, .shape = {3}, .nbytes = 24, .name = strdup("labels")};
  t.data = malloc(24);
  memcpy(t.data, v64, 24);
  tr_fails(dnrt_tensor_to_i32(&t), "'labels'", "2147483648", "does not fit");
  ck_assert_int_eq(t.dtype, DNRT_I64);
  ck_assert_int_eq(dnrt_tensor_to_f32(&t), 0);
  tr_fails(dnrt_tensor_to_i32(&t), "expected an integer tensor", "F32");
  dnrt_tensor_free(&t);
}
END_TEST

#ifdef DNNCC_SOURCE_DIR
/* Reads one NumPy-written file, writes it back and compares the bytes; 1 if it was there. */
static int numpy_identical(const char *path) {
  char *a, *b;
  size_t la, lb;
  dnrt_tensor t;
  if (dnrt_read_file(path, 1 << 26, &a, &la)) return 0;
  ck_assert_msg(dnrt_npy_read(path, &t) == 0, "%s", dnrt_error());
  ck_assert_int_eq(dnrt_npy_write(tr_path("copy.npy"), &t), 0);
  ck_assert_int_eq(dnrt_read_file(tr_path("copy.npy"), 1 << 26, &b, &lb), 0);
  ck_assert_msg(la == lb && !memcmp(a, b, la), "%s: our writer's bytes differ from NumPy's", path);
  free(a);
  free(b);
  dnrt_tensor_free(&t);
  return 1;
}
#endif

/* The conformance suite's .npy files were written by NumPy: ours must be identical, and
 * its safetensors (written by the reference implementation) must load. */
START_TEST(numpy_and_reference_files) {
#ifdef DNNCC_SOURCE_DIR
  char dir[512], p[1024];
  snprintf(dir, sizeof dir, "%s/../shared/conformance/cases", DNNCC_SOURCE_DIR);
  DIR *d = opendir(dir);
  struct dirent *e;
  int seen = 0;
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    snprintf(p, sizeof p, "%s/%s/in_x.npy", dir, e->d_name);
    seen += numpy_identical(p);
    snprintf(p, sizeof p, "%s/%s/weights.safetensors", dir, e->d_name);
    dnrt_tensors ts;
    if (access(p, R_OK) == 0) {
      ck_assert_msg(dnrt_safetensors_read(p, &ts) == 0, "%s", dnrt_error());
      ck_assert_int_gt(ts.n, 0);
      dnrt_tensors_free(&ts);
    }
  }
  if (d) closedir(d);
  ck_assert(d == NULL || seen > 0);
#endif
}
END_TEST

int main(void) {
  Suite *s = suite_create("runtime_files");
  TCase *tc = tcase_create("files");
  tcase_add_checked_fixture(tc, tr_setup, tr_teardown);
  tcase_add_test(tc, npy_roundtrip_all_dtypes_and_ranks);
  tcase_add_test(tc, npy_versions_and_shapes);
  tcase_add_test(tc, npy_malformed);
  tcase_add_test(tc, npy_write_rejects_inconsistent);
  tcase_add_test(tc, safetensors_roundtrip);
  tcase_add_test(tc, safetensors_write_rejects);
  tcase_add_test(tc, safetensors_handwritten);
  tcase_add_test(tc, safetensors_malformed);
  tcase_add_test(tc, atomic_write_and_read_limits);
  tcase_add_test(tc, conversions);
  tcase_add_test(tc, numpy_and_reference_files);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0;
}
