# pulmo_add_gtest_suites(TARGET LABEL FILTER TIMEOUT): one CTest test per GoogleTest suite of TARGET (named
# "LABEL/Suite", running --gtest_filter=Suite.*), for the suites that FILTER (a --gtest_filter) selects, labelled
# LABEL. Like gtest_discover_tests, the suites are listed from the built binary (after each link). One process a
# suite instead of one a test: the unit tests' time is then the tests', not LibTorch's and ITK's start-up 268 times.
set(PULMO_GTEST_SUITES_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/GtestSuitesList.cmake")

function(pulmo_add_gtest_suites target label filter timeout)
  set(base "${CMAKE_CURRENT_BINARY_DIR}/${target}_${label}_suites")
  add_custom_command(
    TARGET ${target} POST_BUILD
    BYPRODUCTS "${base}.cmake"
    COMMAND "${CMAKE_COMMAND}" -D "EXECUTABLE=$<TARGET_FILE:${target}>" -D "OUTPUT=${base}.cmake"
            -D "LABEL=${label}" -D "FILTER=${filter}" -D "TIMEOUT=${timeout}"
            -D "WORKING_DIRECTORY=${CMAKE_CURRENT_BINARY_DIR}" -P "${PULMO_GTEST_SUITES_SCRIPT}"
    VERBATIM)
  file(WRITE "${base}_include.cmake"
       "if(EXISTS \"${base}.cmake\")\n  include(\"${base}.cmake\")\nelse()\n"
       "  add_test(${target}_${label}_NOT_BUILT ${target}_${label}_NOT_BUILT)\nendif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${base}_include.cmake")
endfunction()
