// Internal: tables rendered as Markdown and HTML (summary files of pulmo eval).
#pragma once

#include <string>
#include <vector>

namespace pulmo::eval_detail {

struct TextTable {
  std::string title;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

// `s` with <, >, & and " escaped for HTML text and attribute values.
std::string html_escape(const std::string& s);

// A document with a title line, an intro paragraph and the tables.
std::string markdown(const std::vector<TextTable>& tables, const std::string& intro, const std::string& title = "pulmo eval summary");
std::string html(const std::vector<TextTable>& tables, const std::string& intro, const std::string& title = "pulmo eval summary");

}  // namespace pulmo::eval_detail
