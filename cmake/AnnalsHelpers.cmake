# One call per component: annals_cc_library(NAME x SRCS ... DEPS ...) defines `annals_x` and the
# alias `annals::x`; annals_cc_test(NAME x SRCS ... DEPS ... [LABELS ...]) adds a GoogleTest
# binary registered with CTest (label "slow" keeps a suite out of the quick run).
include_guard(GLOBAL)

function(annals_cc_library)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS;PUBLIC_DEPS" ${ARGN})
  add_library(annals_${A_NAME} STATIC ${A_SRCS})
  add_library(annals::${A_NAME} ALIAS annals_${A_NAME})
  target_include_directories(annals_${A_NAME} PUBLIC ${PROJECT_SOURCE_DIR}/include
                                                     ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(annals_${A_NAME} PUBLIC ${A_PUBLIC_DEPS} ${A_DEPS})
endfunction()

function(annals_cc_test)
  cmake_parse_arguments(A "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  set_target_properties(${A_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
  add_test(NAME ${A_NAME} COMMAND ${A_NAME})
  if(NOT A_LABELS)
    set(A_LABELS quick)
  endif()
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  set_tests_properties(${A_NAME} PROPERTIES LABELS "${A_LABELS}" TIMEOUT ${A_TIMEOUT}
                       ENVIRONMENT "ANNALS_BIN=${PROJECT_BINARY_DIR}/bin")
endfunction()

# libFuzzer target (clang builds only); registered as a short CTest run over its corpus:
#   annals_fuzz_target(NAME x SRCS ... DEPS ... [INSTRUMENT libs...] [CORPUS dir] [RUNS n]
#                      [MAX_TOTAL_TIME s])
# INSTRUMENT names libraries of ours (among DEPS) that hold the code under test: in a sanitizer
# build they are compiled with coverage instrumentation too, so libFuzzer is steered by their
# branches and not only by the target's own file. Opt-in, because it changes how the library
# compiles for every user (some code, e.g. Boost.Context's, does not assemble with it).
# CORPUS is the committed seed corpus, only read: inputs the run discovers go to a scratch
# corpus in the build tree (libFuzzer writes to the first directory given), crash artifacts
# next to it. The run stops after RUNS inputs (default 20000) or MAX_TOTAL_TIME seconds
# (default 25), whichever comes first.
function(annals_fuzz_target)
  cmake_parse_arguments(A "" "NAME;RUNS;CORPUS;MAX_TOTAL_TIME" "SRCS;DEPS;INSTRUMENT" ${ARGN})
  if(NOT ANNALS_FUZZ)
    return()
  endif()
  add_executable(${A_NAME} ${A_SRCS})
  target_compile_options(${A_NAME} PRIVATE -fsanitize=fuzzer)
  target_link_options(${A_NAME} PRIVATE -fsanitize=fuzzer)
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS})
  # The instrumented libraries' other users (tests, the annals binary) need the coverage
  # callbacks, which only the sanitizer runtime provides: so only in a sanitizer build.
  if(ANNALS_SANITIZE)
    foreach(dep IN LISTS A_INSTRUMENT)
      get_target_property(real ${dep} ALIASED_TARGET)
      if(NOT real)
        set(real ${dep})
      endif()
      target_compile_options(${real} PRIVATE -fsanitize=fuzzer-no-link)
    endforeach()
  endif()
  set_target_properties(${A_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/fuzz)
  if(NOT A_RUNS)
    set(A_RUNS 20000)
  endif()
  if(NOT A_MAX_TOTAL_TIME)
    set(A_MAX_TOTAL_TIME 25)
  endif()
  set(corpus_args)
  if(A_CORPUS)
    set(scratch ${PROJECT_BINARY_DIR}/fuzz/${A_NAME}.corpus)
    file(MAKE_DIRECTORY ${scratch})
    set(corpus_args ${scratch} ${A_CORPUS})
  endif()
  add_test(NAME ${A_NAME}
           COMMAND ${A_NAME} -runs=${A_RUNS} -seed=1 -max_len=4096
                   -max_total_time=${A_MAX_TOTAL_TIME}
                   -artifact_prefix=${PROJECT_BINARY_DIR}/fuzz/${A_NAME}- ${corpus_args})
  set_tests_properties(${A_NAME} PROPERTIES LABELS "fuzz" TIMEOUT 300)
endfunction()
