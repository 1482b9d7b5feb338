/* jit_llvm.cpp - the in-process JIT: generated C -> Clang -> LLVM IR -> object -> ORC LLJIT.
 *
 * The only C++ in dnncc. No compiler process is started and no temporary file is written:
 *   1. The Clang driver (as `clang -c -x c -std=c99 -O<n> -march=native -fPIC ...`) turns
 *      our options into a cc1 command line: host CPU and features, the vectorizers, the
 *      system and resource include directories. The source is handed to the frontend as a
 *      remapped in-memory file, so the driver is told not to look for it on disk.
 *   2. EmitLLVMOnlyAction runs the frontend and the -O<n> optimization pipeline and gives
 *      back an llvm::Module; Clang's diagnostics go to stderr (the generated C carries
 *      #line directives, so they point at the .dnn file).
 *   3. A host TargetMachine (PIC, small code model) compiles the module to an ELF object in
 *      memory; the object is stored in the cache, keyed by dn_jit_hash(source, flags) where
 *      the flags name the LLVM version, options and host CPU with its features.
 *   4. A fresh LLJIT per handle adds the object; the process (libc, libm, and the OpenBLAS
 *      and OpenMP runtimes, loaded permanently when the options ask for them) resolves the
 *      external symbols.
 * A cache hit skips steps 1-3: the object file is read, checked, and added directly.
 * Nothing here throws across the C interface: every entry point catches and reports.
 */
#include <clang/Basic/Diagnostic.h>
#include <clang/Basic/DiagnosticOptions.h>
#include <clang/CodeGen/CodeGenAction.h>
#include <clang/Driver/Compilation.h>
#include <clang/Driver/Driver.h>
#include <clang/Driver/Job.h>
#include <clang/Driver/Tool.h>
#include <clang/Frontend/CompilerInstance.h>
#include <clang/Frontend/CompilerInvocation.h>
#include <clang/Frontend/TextDiagnosticPrinter.h>
#include <clang/Lex/PreprocessorOptions.h>

#include <llvm/ADT/SmallVector.h>
#include <llvm/ADT/StringMap.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/Object/ObjectFile.h>
#include <llvm/Support/DynamicLibrary.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/FileUtilities.h>
#include <llvm/Support/Host.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/Path.h>
#include <llvm/Support/SmallVectorMemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

extern "C" {
#include "jit.h"
#include "jit_llvm.h"
}

#ifndef DNNCC_CLANG_RESOURCE_DIR
#define DNNCC_CLANG_RESOURCE_DIR ""
#endif
#ifndef DNNCC_LLVM_LIBDIR
#define DNNCC_LLVM_LIBDIR ""
#endif
#ifndef DNNCC_LLVM_BINDIR
#define DNNCC_LLVM_BINDIR ""
#endif
#ifndef DNNCC_CBLAS_INCLUDE
#define DNNCC_CBLAS_INCLUDE ""
#endif

/* One compiled unit: its own JIT instance, which owns the code memory. */
struct dn_jit {
  std::unique_ptr<llvm::orc::LLJIT> jit;  /* holds the linked object */
};

namespace {

/* The name the in-memory source has in Clang's diagnostics (outside #line regions). */
const char kSourceName[] = "dnncc-generated.c";
/* Bumped when the way objects are produced changes, so stale cache entries miss. */
const char kCacheVersion[] = "dnncc-llvm-jit-1";

dn_jit_llvm_stats g_stats;  /* counters reported by dn_jit_llvm_get_stats */

/* Prints a JIT error in the driver's "dnncc: error:" format. */
void report(const std::string &msg) {
  std::fprintf(stderr, "dnncc: error: jit: %s\n", msg.c_str());
}

/* Registers the host target with LLVM once; false when the host is not supported. */
bool init_llvm() {
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [] {
    ok = !llvm::InitializeNativeTarget() && !llvm::InitializeNativeTargetAsmPrinter() &&
         !llvm::InitializeNativeTargetAsmParser();
  });
  return ok;
}

/* ---- options, host description, cache key --------------------------------------- */

int opt_level(const dn_jit_opts *o) {
  int l = o ? o->opt_level : 2;
  return l < 0 ? 0 : l > 3 ? 3 : l;
}

/* The host CPU and its enabled features, sorted: part of the cache key, since the code
 * is compiled for exactly this machine (-march=native). */
std::string host_description() {
  std::string d = "cpu=" + llvm::sys::getHostCPUName().str() + " features=";
  llvm::StringMap<bool> feats;
  std::vector<std::string> on;
  if (llvm::sys::getHostCPUFeatures(feats))
    for (const auto &f : feats)
      if (f.getValue()) on.push_back(f.getKey().str());
  std::sort(on.begin(), on.end());
  for (const auto &f : on) d += "+" + f;
  return d;
}

/* Everything besides the source that determines the object file. */
std::string cache_flags(const dn_jit_opts *o) {
  return std::string(kCacheVersion) + " llvm=" LLVM_VERSION_STRING " -O" +
         std::to_string(opt_level(o)) + (o && o->openmp ? " -fopenmp" : "") +
         (o && o->openblas ? " -lopenblas" : "") + " " + host_description();
}

/* The host's cache directory and source hash (compiler/jit_cc.c), handed over by
 * dnmod_llvm_init: this file is built as a module that dnncc loads on first use (see
 * compiler/jit_llvm_load.c), not linked into dnncc, so it cannot call them directly. */
const char *(*host_cache_dir)(void);
void (*host_hash)(const char *src, size_t len, const char *flags, char out[17]);

/* The cache file for this source and these options, or "" when caching is off. */
std::string cache_path(const char *src, size_t len, const dn_jit_opts *o) {
  if (o && o->no_cache) return "";
  const char *dir = host_cache_dir();  /* set with host_hash, checked by dnmod_llvm_compile */
  if (!dir || !*dir || std::strcmp(dir, ".") == 0) return "";  /* never litter the cwd */
  std::string flags = cache_flags(o);
  char key[17] = {0};
  host_hash(src, len, flags.c_str(), key);
  llvm::SmallString<256> p(dir);
  llvm::sys::path::append(p, std::string("llvm-") + key + ".o");
  return p.str().str();
}

/* ---- runtime libraries the generated code may call ------------------------------- */

/* Loads the first library of the list that opens, permanently and globally, so that the
 * process symbol search of every JIT finds its symbols. */
bool load_first(const std::vector<std::string> &names, const char *what) {
  std::string err, all;
  for (const auto &n : names) {
    if (!llvm::sys::DynamicLibrary::LoadLibraryPermanently(n.c_str(), &err)) return true;
    all += "\n  " + n + ": " + err;
  }
  report(std::string("cannot load the ") + what + " runtime:" + all);
  return false;
}

bool load_openmp() {
  static int state = 0;  /* 0 untried, 1 loaded, -1 failed */
  if (state == 0) {
    std::string libdir = DNNCC_LLVM_LIBDIR;
    std::vector<std::string> names;
    if (!libdir.empty()) names.push_back(libdir + "/libomp.so.5");
    names.insert(names.end(), {"libomp.so.5", "libomp.so", "libiomp5.so"});
    state = load_first(names, "OpenMP (libomp)") ? 1 : -1;
  }
  return state == 1;
}

bool load_openblas() {
  static int state = 0;  /* 0 untried, 1 loaded, -1 failed */
  if (state == 0)
    state = load_first({"libopenblas.so.0", "libopenblas.so", "libcblas.so.3", "libblas.so.3"},
                       "OpenBLAS (cblas)") ? 1 : -1;
  return state == 1;
}

/* ---- Clang: C source -> optimized llvm::Module ----------------------------------- */

/* The directory holding Clang's own headers (stddef.h, stdint.h, omp.h), or "". */
std::string resource_dir() {
  std::vector<std::string> cands;
  if (const char *e = std::getenv("DNNCC_CLANG_RESOURCE_DIR")) cands.push_back(e);
  cands.push_back(DNNCC_CLANG_RESOURCE_DIR);
  cands.push_back(clang::driver::Driver::GetResourcesPath(DNNCC_LLVM_BINDIR "/clang"));
  for (const auto &d : cands) {
    llvm::SmallString<256> h(d);
    llvm::sys::path::append(h, "include", "stddef.h");
    if (!d.empty() && llvm::sys::fs::exists(h)) return d;
  }
  return "";
}

/* The driver command line for this compile (argv[0] is only a name). */
std::vector<std::string> driver_args(const dn_jit_opts *o, const std::string &rdir) {
  std::vector<std::string> a = {"clang", "-c", "-x", "c", "-std=c99",
                                "-O" + std::to_string(opt_level(o)), "-march=native",
                                "-fPIC", "-ffp-contract=off", "-w",
                                "-resource-dir", rdir};
  if (o && o->openmp) a.push_back("-fopenmp=libomp");
  if (o && o->openblas && DNNCC_CBLAS_INCLUDE[0]) a.push_back("-I" DNNCC_CBLAS_INCLUDE);
  a.push_back(kSourceName);
  return a;
}

/* Runs the driver (no process, no file access for the input) and returns the cc1
 * invocation it would run, or null after printing the driver's diagnostics. */
std::shared_ptr<clang::CompilerInvocation> make_invocation(const dn_jit_opts *o,
                                                           const std::string &rdir) {
  llvm::IntrusiveRefCntPtr<clang::DiagnosticOptions> dopts = new clang::DiagnosticOptions();
  auto *printer = new clang::TextDiagnosticPrinter(llvm::errs(), &*dopts);
  llvm::IntrusiveRefCntPtr<clang::DiagnosticIDs> ids(new clang::DiagnosticIDs());
  clang::DiagnosticsEngine diags(ids, &*dopts, printer);
  clang::driver::Driver drv(DNNCC_LLVM_BINDIR "/clang", llvm::sys::getProcessTriple(), diags);
  drv.setCheckInputsExist(false);
  std::vector<std::string> args = driver_args(o, rdir);
  std::vector<const char *> argv;
  for (const auto &s : args) argv.push_back(s.c_str());
  std::unique_ptr<clang::driver::Compilation> comp(drv.BuildCompilation(argv));
  if (!comp || diags.hasErrorOccurred()) return nullptr;
  const clang::driver::JobList &jobs = comp->getJobs();
  if (jobs.size() != 1 || !llvm::isa<clang::driver::Command>(*jobs.begin())) {
    report("the Clang driver did not produce a single frontend job");
    return nullptr;
  }
  const auto &cmd = llvm::cast<clang::driver::Command>(*jobs.begin());
  auto inv = std::make_shared<clang::CompilerInvocation>();
  if (!clang::CompilerInvocation::CreateFromArgs(*inv, cmd.getArguments(), diags))
    return nullptr;
  return inv;
}

/* Compiles the source to an optimized module in ctx, or null after Clang's diagnostics. */
std::unique_ptr<llvm::Module> compile_module(const char *src, size_t len, const dn_jit_opts *o,
                                             llvm::LLVMContext &ctx) {
  std::string rdir = resource_dir();
  if (rdir.empty()) {
    report("cannot find the Clang resource directory (stddef.h); set DNNCC_CLANG_RESOURCE_DIR");
    return nullptr;
  }
  std::shared_ptr<clang::CompilerInvocation> inv = make_invocation(o, rdir);
  if (!inv) return nullptr;
  inv->getFrontendOpts().DisableFree = false;  /* we are a long-lived process */
  inv->getPreprocessorOpts().addRemappedFile(
      kSourceName, llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(src, len), kSourceName)
                       .release());
  clang::CompilerInstance ci;
  ci.setInvocation(std::move(inv));
  ci.createDiagnostics();
  if (!ci.hasDiagnostics()) return nullptr;
  clang::EmitLLVMOnlyAction act(&ctx);
  g_stats.clang_runs++;
  if (!ci.ExecuteAction(act)) return nullptr;
  return act.takeModule();
}

/* ---- LLVM: module -> object in memory --------------------------------------------- */

/* The machine description used both for code generation and for the JIT. */
llvm::Expected<llvm::orc::JITTargetMachineBuilder> host_jtmb(const dn_jit_opts *o) {
  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb) return jtmb.takeError();
  jtmb->setCodeGenOptLevel(opt_level(o) >= 3   ? llvm::CodeGenOpt::Aggressive
                           : opt_level(o) == 0 ? llvm::CodeGenOpt::None
                                               : llvm::CodeGenOpt::Default);
  jtmb->setRelocationModel(llvm::Reloc::PIC_);
  jtmb->setCodeModel(llvm::CodeModel::Small);
  return jtmb;
}

/* Generates the ELF object for m; empty buffer after reporting an error. */
std::unique_ptr<llvm::MemoryBuffer> emit_object(llvm::Module &m, const dn_jit_opts *o) {
  auto jtmb = host_jtmb(o);
  if (!jtmb) {
    report(llvm::toString(jtmb.takeError()));
    return nullptr;
  }
  auto tm = jtmb->createTargetMachine();
  if (!tm) {
    report(llvm::toString(tm.takeError()));
    return nullptr;
  }
  m.setDataLayout((*tm)->createDataLayout());
  m.setTargetTriple((*tm)->getTargetTriple().str());
  llvm::SmallVector<char, 0> obj;
  llvm::raw_svector_ostream os(obj);
  llvm::legacy::PassManager pm;
  if ((*tm)->addPassesToEmitFile(pm, os, nullptr, llvm::CGFT_ObjectFile)) {
    report("the host target cannot emit object files");
    return nullptr;
  }
  pm.run(m);
  return std::make_unique<llvm::SmallVectorMemoryBuffer>(std::move(obj), "dnncc-jit.o", false);
}

/* ---- the object cache -------------------------------------------------------------- */

/* The cached object at path when it exists and parses as an object file; a broken entry
 * is removed so that it is rebuilt. */
std::unique_ptr<llvm::MemoryBuffer> cache_load(const std::string &path) {
  if (path.empty()) return nullptr;
  auto buf = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                         /*RequiresNullTerminator=*/false);
  if (!buf) return nullptr;
  auto obj = llvm::object::ObjectFile::createObjectFile((*buf)->getMemBufferRef());
  if (!obj) {
    llvm::consumeError(obj.takeError());
    llvm::sys::fs::remove(path);
    return nullptr;
  }
  return std::move(*buf);
}

/* Stores the object atomically (write elsewhere in the directory, then rename), so that
 * concurrent dnncc processes never see half a file. Failure only costs speed. */
void cache_store(const std::string &path, const llvm::MemoryBuffer &obj) {
  if (path.empty()) return;
  llvm::Error e = llvm::writeFileAtomically(path + ".tmp-%%%%%%%%", path, obj.getBuffer());
  if (e) llvm::consumeError(std::move(e));
  else g_stats.cache_writes++;
}

/* ---- ORC: object -> callable code ----------------------------------------------- */

/* A JIT holding obj, with the process (and the runtimes loaded above) as the fallback for
 * undefined symbols; null after reporting. */
dn_jit *make_jit(std::unique_ptr<llvm::MemoryBuffer> obj, const dn_jit_opts *o) {
  auto jtmb = host_jtmb(o);
  if (!jtmb) {
    report(llvm::toString(jtmb.takeError()));
    return nullptr;
  }
  auto jit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(*jtmb)).create();
  if (!jit) {
    report(llvm::toString(jit.takeError()));
    return nullptr;
  }
  auto gen = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      (*jit)->getDataLayout().getGlobalPrefix());
  if (!gen) {
    report(llvm::toString(gen.takeError()));
    return nullptr;
  }
  (*jit)->getMainJITDylib().addGenerator(std::move(*gen));
  if (llvm::Error e = (*jit)->addObjectFile(std::move(obj))) {
    report(llvm::toString(std::move(e)));
    return nullptr;
  }
  dn_jit *j = new dn_jit;
  j->jit = std::move(*jit);
  return j;
}

/* The object for the source: from the cache, or compiled (and then cached). */
std::unique_ptr<llvm::MemoryBuffer> get_object(const char *src, size_t len, const dn_jit_opts *o) {
  std::string path = cache_path(src, len, o);
  if (auto obj = cache_load(path)) {
    g_stats.cache_hits++;
    return obj;
  }
  llvm::LLVMContext ctx;
  std::unique_ptr<llvm::Module> m = compile_module(src, len, o, ctx);
  if (!m) return nullptr;
  std::unique_ptr<llvm::MemoryBuffer> obj = emit_object(*m, o);
  if (obj) cache_store(path, *obj);
  return obj;
}

dn_jit *compile(const char *src, size_t len, const dn_jit_opts *o) {
  if (!init_llvm()) {
    report("LLVM does not support this host for JIT compilation");
    return nullptr;
  }
  if ((o && o->openmp && !load_openmp()) || (o && o->openblas && !load_openblas()))
    return nullptr;
  std::unique_ptr<llvm::MemoryBuffer> obj = get_object(src, len, o);
  if (!obj) return nullptr;
  return make_jit(std::move(obj), o);
}

/* The address of symbol, or null. A missing symbol is silent (callers probe optional
 * entry points); any other failure, such as an unresolved external, is reported. */
void *lookup(dn_jit *j, const char *symbol) {
  auto sym = j->jit->lookup(symbol);
  if (sym) return reinterpret_cast<void *>(static_cast<uintptr_t>(sym->getAddress()));
  llvm::handleAllErrors(
      sym.takeError(),
      [symbol](const llvm::orc::SymbolsNotFound &nf) {
        for (const auto &s : nf.getSymbols())
          if (*s != symbol) report("undefined symbol in generated code: " + (*s).str());
      },
      [](const llvm::ErrorInfoBase &e) { report(e.message()); });
  return nullptr;
}

}  // namespace

/* --- the module's entry points (resolved with dlsym by compiler/jit_llvm_load.c) ---- */

extern "C" __attribute__((visibility("default"))) void dnmod_llvm_init(
    const char *(*cache_dir)(void), void (*hash)(const char *, size_t, const char *, char[17])) {
  host_cache_dir = cache_dir;
  host_hash = hash;
}

extern "C" __attribute__((visibility("default"))) dn_jit *dnmod_llvm_compile(const char *src, size_t len,
                                                                             const dn_jit_opts *o) {
  if (!host_hash) {
    report("the LLVM module was not initialized");
    return nullptr;
  }
  try {
    return compile(src, len, o);
  } catch (const std::bad_alloc &) {
    report("out of memory");
  } catch (...) {
    report("internal error in the LLVM back end");
  }
  return nullptr;
}

extern "C" __attribute__((visibility("default"))) void *dnmod_llvm_lookup(dn_jit *j, const char *symbol) {
  if (!j || !symbol) return nullptr;
  try {
    return lookup(j, symbol);
  } catch (...) {
    report("internal error in the LLVM back end");
  }
  return nullptr;
}

extern "C" __attribute__((visibility("default"))) void dnmod_llvm_free(dn_jit *j) { delete j; }

extern "C" __attribute__((visibility("default"))) void dnmod_llvm_get_stats(dn_jit_llvm_stats *out) {
  *out = g_stats;
}
