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
#   annals_fuzz_target(NAME x SRCS ... DEPS ... [CORPUS dir] [RUNS n] [MAX_TOTAL_TIME s])
# In a sanitizer build the DEPS libraries of our own are compiled with coverage instrumentation
# as well, so list the library that holds the code under test directly (not only through a
# transitive dependency).
# CORPUS is the committed seed corpus, only read: inputs the run discovers go to a scratch
# corpus in the build tree (libFuzzer writes to the first directory given), crash artifacts
# next to it. The run stops after RUNS inputs (default 20000) or MAX_TOTAL_TIME seconds
# (default 25), whichever comes first.
function(annals_fuzz_target)
  cmake_parse_arguments(A "" "NAME;RUNS;CORPUS;MAX_TOTAL_TIME" "SRCS;DEPS" ${ARGN})
  if(NOT ANNALS_FUZZ)
    return()
  endif()
  add_executable(${A_NAME} ${A_SRCS})
  target_compile_options(${A_NAME} PRIVATE -fsanitize=fuzzer)
  target_link_options(${A_NAME} PRIVATE -fsanitize=fuzzer)
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS})
  # libFuzzer steers by the coverage of the code under test, which lives in the DEPS libraries:
  # instrument them too. Their other users (tests, the annals binary) then need the coverage
  # callbacks, which the sanitizer runtime provides: so only in a sanitizer build (`make asan`).
  if(NOT ANNALS_SANITIZE)
    message(STATUS "${A_NAME}: ANNALS_SANITIZE is off, coverage only of the target's own code")
    set(A_DEPS_TO_INSTRUMENT)
  else()
    set(A_DEPS_TO_INSTRUMENT ${A_DEPS})
  endif()
  foreach(dep IN LISTS A_DEPS_TO_INSTRUMENT)
    if(TARGET ${dep})
      get_target_property(real ${dep} ALIASED_TARGET)
      if(NOT real)
        set(real ${dep})
      endif()
      get_target_property(imported ${real} IMPORTED)
      if(NOT imported)
        target_compile_options(${real} PRIVATE -fsanitize=fuzzer-no-link)
      endif()
    endif()
  endforeach()
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
