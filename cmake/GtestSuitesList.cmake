# Run after each link of a GoogleTest binary (cmake/GtestSuites.cmake): writes OUTPUT, a CTest file with one test
# per suite of EXECUTABLE that FILTER selects.
#   cmake -D EXECUTABLE=... -D OUTPUT=... -D LABEL=... -D FILTER=... -D TIMEOUT=... -D WORKING_DIRECTORY=... -P this
execute_process(COMMAND "${EXECUTABLE}" --gtest_list_tests "--gtest_filter=${FILTER}"
                OUTPUT_VARIABLE listing ERROR_VARIABLE errors RESULT_VARIABLE result TIMEOUT 120)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${EXECUTABLE} --gtest_list_tests failed (${result}):\n${listing}\n${errors}")
endif()
string(REPLACE ";" "\\;" listing "${listing}")
string(REPLACE "\n" ";" lines "${listing}")
set(script "")
foreach(line IN LISTS lines)
  # A suite line is not indented: "Suite." or "Prefix/Suite.  # TypeParam = ..."
  if(line MATCHES "^([A-Za-z0-9_/]+)\\.( *#.*)?$")
    set(suite "${CMAKE_MATCH_1}")
    string(APPEND script
           "add_test([==[${LABEL}/${suite}]==] [==[${EXECUTABLE}]==] [==[--gtest_filter=${suite}.*]==])\n"
           "set_tests_properties([==[${LABEL}/${suite}]==] PROPERTIES LABELS ${LABEL} TIMEOUT ${TIMEOUT}"
           " WORKING_DIRECTORY [==[${WORKING_DIRECTORY}]==])\n")
  endif()
endforeach()
file(WRITE "${OUTPUT}" "${script}")
