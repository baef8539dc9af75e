// Posts the plan as one comment on the pull request, or updates the one posted before.
// Used by both workflows in this folder: copy it to `.github/scripts/minifleet-plan-comment.js`.
//
// Reads plan.txt and errors.txt (what `minifleet plan` printed) and the plan's exit code from the
// environment variable CODE (0 no changes, 2 changes pending, 1 errors).
module.exports = async ({ github, context }) => {
  const fs = require('fs');
  const marker = '<!-- minifleet-plan -->';
  const limit = 60000; // a comment holds 65,536 characters; a grouped plan of 10,000 apps fits
  const cut = (s) => (s.length > limit ? s.slice(0, limit) + '\n… (cut; the job log has it all)' : s);
  const plan = fs.readFileSync('plan.txt', 'utf8');
  const errors = fs.readFileSync('errors.txt', 'utf8');
  const verdict = { 0: 'no changes', 2: 'changes pending', 1: '**failed**' }[process.env.CODE] ?? 'unknown';
  let body = `${marker}\n### minifleet plan: ${verdict}\n\n\`\`\`\n${cut(plan)}\n\`\`\`\n`;
  if (errors.trim()) {
    body += `\n<details><summary>errors</summary>\n\n\`\`\`\n${cut(errors)}\n\`\`\`\n</details>\n`;
  }
  const { owner, repo } = context.repo;
  const issue_number = context.issue.number;
  const comments = await github.paginate(github.rest.issues.listComments, { owner, repo, issue_number });
  const mine = comments.find((c) => c.body.startsWith(marker));
  if (mine) {
    await github.rest.issues.updateComment({ owner, repo, comment_id: mine.id, body });
  } else {
    await github.rest.issues.createComment({ owner, repo, issue_number, body });
  }
};
