// lockcheck's LLVM pass-plugin shim.
//
// Registers the `lockcheck` module pass with LLVM 22's new pass manager,
// forwards the pass parameters and -lockcheck-* options to Rust, and turns the
// diagnostics Rust reports into LLVMContext diagnostics. Nothing else lives
// here: the analysis is in Rust (pass/src), which also defines
// llvmGetPassPluginInfo (a cdylib's version script would hide it if it were
// defined in this static library).

#include "llvm/IR/DebugInfoMetadata.h"
#include "llvm/IR/DiagnosticInfo.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/PassManager.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/CBindingWrapping.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Transforms/Utils/Cloning.h"
#include "llvm/Transforms/Utils/ValueMapper.h"
#include "llvm-c/Types.h"

#include <string>

using namespace llvm;

namespace {

cl::opt<std::string> RulesOpt("lockcheck-rules", cl::value_desc("file"),
                              cl::desc("lockcheck: rule pack replacing the built-in rules.yaml"));
cl::opt<std::string> FormatOpt("lockcheck-format", cl::value_desc("text|json|sarif"),
                               cl::desc("lockcheck: output format (default: text diagnostics)"));
cl::opt<std::string> OutputOpt("lockcheck-output", cl::value_desc("file"),
                               cl::desc("lockcheck: write json/sarif output to this file"));
cl::list<std::string> EntryOpt("lockcheck-entry", cl::value_desc("function"),
                               cl::desc("lockcheck: treat this function as a driver routine"));
cl::opt<std::string> ModelOpt("lockcheck-model", cl::value_desc("wdm|kmdf|storport"),
                              cl::desc("lockcheck: force the driver model"));
cl::opt<bool> VerboseOpt("lockcheck-verbose", cl::desc("lockcheck: print the time each phase takes"));
cl::opt<bool> ReportUnusedIgnoresOpt("lockcheck-report-unused-ignores",
                                     cl::desc("lockcheck: report lockcheck-ignore comments that silence nothing"));

} // namespace

// The Rust side of the bridge (pass/src/plugin.rs). Strings are UTF-8 and
// NUL-terminated; a null `file` means the diagnostic has no source location.
extern "C" {
struct LockcheckDiagnostic {
  unsigned Severity; // 0 warning, 1 note, 2 error
  const char *File;
  const char *Directory;
  unsigned Line;
  unsigned Column;
  const char *Function; // LLVM name of the function the location is in
  const char *Message;
};
typedef void (*LockcheckEmitFn)(void *Sink, const LockcheckDiagnostic *D);
// Returns 0 on success; otherwise *Error holds a message (free it with
// lockcheck_free_string) that the host must treat as a fatal user error.
int lockcheck_run_module(LLVMModuleRef M, const char *Options, void *Sink,
                         LockcheckEmitFn Emit, char **Error);
void lockcheck_free_string(char *S);
}

namespace {

struct DiagnosticSink {
  Module &M;
  // Inside clang (pass added at an extension point) warnings use the one
  // diagnostic kind clang renders as `file:line:col: warning:` with a source
  // snippet; under `opt -passes=lockcheck` the generic located kind prints
  // `warning: file:line:col: ...` without opt's "in function" prefix.
  bool CompilerStyle;
};

DebugLoc makeDebugLoc(Module &M, const Function *F, const LockcheckDiagnostic &D) {
  DISubprogram *SP = F ? F->getSubprogram() : nullptr;
  if (!SP)
    return DebugLoc();
  LLVMContext &Ctx = M.getContext();
  DIFile *File = DIFile::get(Ctx, D.File, D.Directory ? D.Directory : "");
  auto *Scope = DILexicalBlockFile::get(Ctx, SP, File, 0);
  return DebugLoc(DILocation::get(Ctx, D.Line, D.Column, Scope));
}

extern "C" void emitDiagnostic(void *Opaque, const LockcheckDiagnostic *D) {
  auto &Sink = *static_cast<DiagnosticSink *>(Opaque);
  LLVMContext &Ctx = Sink.M.getContext();
  const Function *F = D->Function ? Sink.M.getFunction(D->Function) : nullptr;
  if (F && !F->getSubprogram())
    F = nullptr;
  if (!F) // any function with debug info can anchor a location
    for (const Function &Candidate : Sink.M)
      if (Candidate.getSubprogram()) {
        F = &Candidate;
        break;
      }
  DiagnosticSeverity Severity = D->Severity == 1 ? DS_Note : D->Severity == 2 ? DS_Error : DS_Warning;
  if (!D->File || !F) {
    std::string Text = D->Message;
    if (D->File)
      Text = std::string(D->File) + ":" + std::to_string(D->Line) + ":" + std::to_string(D->Column) + ": " + Text;
    Ctx.diagnose(DiagnosticInfoGeneric(Text, Severity));
    return;
  }
  DebugLoc Loc = makeDebugLoc(Sink.M, F, *D);
  if (Severity == DS_Warning && Sink.CompilerStyle)
    Ctx.diagnose(DiagnosticInfoUnsupported(*F, D->Message, Loc, DS_Warning));
  else
    Ctx.diagnose(DiagnosticInfoGenericWithLoc(D->Message, *F, DiagnosticLocation(Loc), Severity));
}

std::string commandLineOptions() {
  std::string S;
  auto Add = [&S](const char *Key, const std::string &Value) {
    if (!Value.empty())
      S += std::string(Key) + "=" + Value + ";";
  };
  Add("rules", RulesOpt);
  Add("format", FormatOpt);
  Add("output", OutputOpt);
  Add("model", ModelOpt);
  for (const std::string &E : EntryOpt)
    Add("entry", E);
  if (ReportUnusedIgnoresOpt)
    S += "report-unused-ignores;";
  if (VerboseOpt)
    S += "verbose;";
  return S;
}

struct LockcheckPass : PassInfoMixin<LockcheckPass> {
  std::string Params; // text between <> in -passes='lockcheck<...>'
  bool CompilerStyle;

  LockcheckPass(std::string Params, bool CompilerStyle) : Params(std::move(Params)), CompilerStyle(CompilerStyle) {}

  PreservedAnalyses run(Module &M, ModuleAnalysisManager &) {
    DiagnosticSink Sink{M, CompilerStyle};
    std::string Options = commandLineOptions() + Params; // parameters win
    char *Error = nullptr;
    if (lockcheck_run_module(wrap(&M), Options.c_str(), &Sink, emitDiagnostic, &Error) != 0) {
      M.getContext().diagnose(DiagnosticInfoGeneric(Twine("lockcheck: ") + (Error ? Error : "unknown error"), DS_Error));
      lockcheck_free_string(Error);
    }
    return PreservedAnalyses::all(); // the user's module is never changed
  }
  static bool isRequired() { return true; } // run under optnone too
};

void copyComdat(GlobalObject *Dst, const GlobalObject *Src) {
  if (const Comdat *SC = Src->getComdat()) {
    Comdat *DC = Dst->getParent()->getOrInsertComdat(SC->getName());
    DC->setSelectionKind(SC->getSelectionKind());
    Dst->setComdat(DC);
  }
}

void shareMetadata(GlobalObject *Dst, const GlobalObject *Src) {
  SmallVector<std::pair<unsigned, MDNode *>, 4> MDs;
  Src->getAllMetadata(MDs);
  for (auto &MD : MDs)
    Dst->addMetadata(MD.first, *MD.second);
}

} // namespace

// A copy of `M` for analysis, as llvm::CloneModule makes it (same globals,
// functions, aliases and bodies, in order) except that metadata is shared
// with `M` instead of cloned: debug info (subprograms, locations, variables,
// types) and named metadata are the original nodes. Only DIAssignIDs are
// cloned, since passes that run on the copy (mem2reg) find and delete
// assignment markers through them. CloneModule re-creates every debug
// location and subprogram, and disposing of the copy tears them down again:
// most of the plugin's time on large modules. The copy is for reading and
// preparing only: it is never verified (a subprogram attached to two
// functions) nor emitted.
extern "C" LLVMModuleRef lockcheck_clone_module(LLVMModuleRef Ref) {
  const Module &M = *unwrap(Ref);
  ValueToValueMapTy VMap;
  auto New = std::make_unique<Module>(M.getModuleIdentifier(), M.getContext());
  New->setSourceFileName(M.getSourceFileName());
  New->setDataLayout(M.getDataLayout());
  New->setTargetTriple(M.getTargetTriple());
  New->setModuleInlineAsm(M.getModuleInlineAsm());

  for (const GlobalVariable &G : M.globals()) {
    auto *NewGV = new GlobalVariable(*New, G.getValueType(), G.isConstant(), G.getLinkage(), nullptr, G.getName(),
                                     nullptr, G.getThreadLocalMode(), G.getType()->getAddressSpace());
    NewGV->copyAttributesFrom(&G);
    VMap[&G] = NewGV;
  }
  for (const Function &F : M) {
    Function *NF = Function::Create(cast<FunctionType>(F.getValueType()), F.getLinkage(), F.getAddressSpace(),
                                    F.getName(), New.get());
    NF->copyAttributesFrom(&F);
    VMap[&F] = NF;
  }
  for (const GlobalAlias &A : M.aliases()) {
    auto *GA = GlobalAlias::create(A.getValueType(), A.getType()->getPointerAddressSpace(), A.getLinkage(),
                                   A.getName(), New.get());
    GA->copyAttributesFrom(&A);
    VMap[&A] = GA;
  }
  for (const GlobalIFunc &I : M.ifuncs()) {
    auto *GI = GlobalIFunc::create(I.getValueType(), I.getAddressSpace(), I.getLinkage(), I.getName(), nullptr,
                                   New.get());
    GI->copyAttributesFrom(&I);
    VMap[&I] = GI;
  }

  for (const GlobalVariable &G : M.globals()) {
    auto *GV = cast<GlobalVariable>(VMap[&G]);
    shareMetadata(GV, &G);
    if (G.isDeclaration())
      continue;
    if (G.hasInitializer())
      GV->setInitializer(MapValue(G.getInitializer(), VMap));
    copyComdat(GV, &G);
  }

  MetadataPredicate Shared = [](const Metadata *MD) { return !isa<DIAssignID>(MD); };
  for (const Function &F : M) {
    auto *NF = cast<Function>(VMap[&F]);
    shareMetadata(NF, &F);
    if (F.isDeclaration())
      continue;
    auto DestArg = NF->arg_begin();
    for (const Argument &A : F.args()) {
      DestArg->setName(A.getName());
      VMap[&A] = &*DestArg++;
    }
    CloneFunctionAttributesInto(NF, &F, VMap, /*ModuleLevelChanges=*/true);
    SmallVector<ReturnInst *, 8> Returns;
    CloneFunctionBodyInto(*NF, F, VMap, RF_None, Returns, "", nullptr, nullptr, nullptr, &Shared);
    if (F.hasPersonalityFn())
      NF->setPersonalityFn(MapValue(F.getPersonalityFn(), VMap));
    copyComdat(NF, &F);
    // The body's own values are never referred to again (but for the blocks
    // a blockaddress names): dropping them keeps the map, and LLVM's table of
    // value handles behind it, the size of one function, not of the module.
    for (const Argument &A : F.args())
      VMap.erase(&A);
    for (const BasicBlock &BB : F) {
      for (const Instruction &I : BB)
        VMap.erase(&I);
      if (!BB.hasAddressTaken())
        VMap.erase(&BB);
    }
  }

  for (const GlobalAlias &A : M.aliases())
    if (const Constant *C = A.getAliasee())
      cast<GlobalAlias>(VMap[&A])->setAliasee(MapValue(C, VMap));
  for (const GlobalIFunc &I : M.ifuncs())
    if (const Constant *Resolver = I.getResolver())
      cast<GlobalIFunc>(VMap[&I])->setResolver(MapValue(Resolver, VMap));

  for (const NamedMDNode &NMD : M.named_metadata()) {
    NamedMDNode *NewNMD = New->getOrInsertNamedMetadata(NMD.getName());
    for (const MDNode *Op : NMD.operands())
      NewNMD->addOperand(const_cast<MDNode *>(Op));
  }
  return wrap(New.release());
}

extern "C" void lockcheck_register_pass_builder_callbacks(PassBuilder &PB) {
  PB.registerPipelineParsingCallback(
      [](StringRef Name, ModulePassManager &MPM, ArrayRef<PassBuilder::PipelineElement>) {
        if (Name == "lockcheck") {
          MPM.addPass(LockcheckPass("", false));
          return true;
        }
        if (Name.consume_front("lockcheck<") && Name.consume_back(">")) {
          MPM.addPass(LockcheckPass(Name.str(), false));
          return true;
        }
        return false;
      });
  // clang -fpass-plugin: check the module as the front end produced it, before
  // any optimisation, at every -O level.
  PB.registerPipelineStartEPCallback(
      [](ModulePassManager &MPM, OptimizationLevel) { MPM.addPass(LockcheckPass("", true)); });
}
