"""The reviews service: yearly review cycles, outcome reports, panel scores, grades
(ReviewCompleted) and the public results (考核结果向社会公布)."""
