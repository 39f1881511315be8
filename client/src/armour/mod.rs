//! The client's armour: what client.py does not do. The whole answer is read however long, and
//! checked to be n!; an `Error: ` or a wrong answer ends with exit code 1; a long wait is said.

pub mod answer;
